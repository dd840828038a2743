# Review: t/060's randomized convergence in a full mesh of three instances
# whose remotes do not forward (forward_inbound off, the default).
# docs/replication.md#clocks promises convergence in a full mesh. A delete
# with a clock that reaches an instance lacking the item is settled as
# delivered (the recreate finds the item gone here), so that instance keeps
# no tombstone; an older create from the third instance arriving later
# brings the item back there, and nobody forwards it, so it stays.
use strict;
use warnings;
$ENV{DS_FORWARD_INBOUND} = 0;
do './t/060_convergence.pl' or die($@ || $!);
