# t/060's randomized convergence with the collection's clocks under
# delete_wins (enable_clocks(..., delete_wins => true)): a delete beats every
# write of the item it deleted, so the oracle holds only items never
# deleted, each field the value of its latest write.
use strict;
use warnings;
# loaded here, at compile time: their INIT blocks must run
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
$ENV{DS_DELETE_WINS} = 1;
# Timing-dependent: 2 random seeds by default (t/060 runs 3 more).
$ENV{DS_CONVERGENCE_SEEDS} //= 2 unless defined $ENV{DS_SEED};
do './t/060_convergence.pl' or die($@ || $!);
