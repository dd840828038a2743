# Randomized convergence (t/060) with subscriptions of different shapes
# (review 6): in a full mesh of three, each link ships title and a random
# subset of body and n, so an edit of body or n reaches some instances
# only. Every instance must end with the same items and titles, and with
# the oracle's items: an item outlives a delete when any write of it, on
# any instance and of any field, is later than the delete (the alive clock
# "a" carries the writes of fields an instance is not sent). 2 seeds of 400
# operations. Before the fix, DS_SEED=923953 with 400 operations ended with
# an outbox that never drained and an item missing on a that b and c had.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
$ENV{DS_ASYMMETRIC} = 1;
$ENV{DS_CONVERGENCE_SEEDS} //= 2 unless defined $ENV{DS_SEED};
$ENV{DS_CONVERGENCE_OPS} //= 400;
do './t/060_convergence.pl' or die($@ || $!);
