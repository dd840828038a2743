# t/060's randomized convergence in a full mesh of three instances whose
# remotes do not forward (forward_inbound off, the default of 0.2). With clocks a
# change is forwarded all the same: convergence needs it. (The first review
# found a mesh without forwarding diverging: a delete reaching an instance
# that lacked the item left no tombstone there, and an older create that
# came later stayed, forwarded by nobody; seed 1366810730 diverged once.)
use strict;
use warnings;
# loaded here, at compile time: their INIT blocks must run
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
$ENV{DS_FORWARD_INBOUND} = 0;
# Timing-dependent: 2 random seeds by default (t/060 runs 3 more).
$ENV{DS_CONVERGENCE_SEEDS} //= 2 unless defined $ENV{DS_SEED};
do './t/060_convergence.pl' or die($@ || $!);
