# t/060's randomized convergence in a star: a hub (a) with a remote for each
# of three leaves (b, c, d), each leaf with one remote, the hub; links both
# ways, forward_inbound on. Leaves hear of each other only through the hub's
# forwarding; links held and released are the star's own
# (docs/replication.md#clocks: any connected topology converges).
use strict;
use warnings;
# loaded here, at compile time: their INIT blocks must run
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
$ENV{DS_TOPOLOGY} = 'star';
$ENV{DS_DATABASES} //= 'a b c d';
$ENV{DS_STAR_HUB} //= 'a';
# Timing-dependent: 2 random seeds (of t/060's 300 operations) by default.
$ENV{DS_CONVERGENCE_SEEDS} //= 2 unless defined $ENV{DS_SEED};
do './t/060_convergence.pl' or die($@ || $!);
