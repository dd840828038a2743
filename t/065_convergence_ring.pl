# t/060's randomized convergence in a ring of four instances with
# forwarding: a->b->c->d->a, each database with one remote, the next one
# (forward_inbound on), and a disabled remote for the previous one that
# names its sync user. Links held and released are the ring's own; a change
# reaches the others only by being forwarded round the ring
# (docs/replication.md#clocks: any connected topology converges).
use strict;
use warnings;
# loaded here, at compile time: their INIT blocks must run
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
$ENV{DS_TOPOLOGY} = 'ring';
$ENV{DS_DATABASES} //= 'a b c d';
# Timing-dependent: 2 random seeds (of t/060's 300 operations) by default.
$ENV{DS_CONVERGENCE_SEEDS} //= 2 unless defined $ENV{DS_SEED};
do './t/060_convergence.pl' or die($@ || $!);
