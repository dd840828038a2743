# A json column whose value is a JSON string goes as the string of its JSON
# text ("\"x\"": Directus hands a string given for a json field to
# PostgreSQL as the field's JSON text), also when json keeps whitespace
# before it (' "x"'::json, what a client that pretty-prints sends), when a
# create and an update are merged, and when resync or the worker's current
# rows render the row; so is a bigint a double cannot hold. (An adversarial
# review found that capture looked at the first byte only, and that resync
# rendered rows with plain row_to_json, as the worker's current rows did.)
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;

my $fake = start_fake(collections => { docs => { pk => 'id' } });
my $node = new_sync_node('json_string_space');
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE docs (id int PRIMARY KEY, data json, v int NOT NULL DEFAULT 0)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token')");
sql(q{SELECT directus_sync.subscribe('b', 'docs', ARRAY['data', 'v'])});

# 1 to 3: created alone; 11 to 13: created and updated while paused (merged)
sql(q{INSERT INTO docs VALUES (1, '"x"'), (2, ' "x"'), (3, E'\n\t"x"')});
ok(wait_drained($node, 'b', timeout => 30), 'the creates drain');
sql(q{SELECT directus_sync.pause('b')});
sql(q{INSERT INTO docs VALUES (11, '"x"'), (12, ' "x"'), (13, E'\n\t"x"')});
sql(q{UPDATE docs SET v = 1 WHERE id > 10});
sql(q{SELECT directus_sync.resume('b')});
ok(wait_drained($node, 'b', timeout => 30), 'the merged creates drain');

my %data = map { $_->{id} => $_->{data} } @{ fake_items($fake, 'docs') };
is($data{1}, '"x"', 'item 1: the JSON string "x" arrives as its JSON text');
for my $id (2, 3, 12, 13)
{
	# what Directus would hand PostgreSQL as the field's JSON text
	my $text = eval { json_encode(JSON::PP->new->allow_nonref->decode($data{$id})) } // '(not JSON text)';
	is($text, '"x"', "item $id: the same JSON string with whitespace before it arrives as JSON text of the string x")
		or diag('sent: ' . json_encode($data{$id}));
}
is($data{11}, $data{1}, 'item 11 (merged) arrives as item 1');

# Resync (and replay) render rows with row_to_json (_payload_select), which
# the comment there says renders them "as the capture trigger writes them":
# it does not encode a JSON string of a json column, nor quote a bigint that
# a double cannot hold (capture does both: docs/directus-behaviour.md).
sql(q{ALTER TABLE docs ADD COLUMN big bigint});
sql(q{SELECT directus_sync.subscribe('b', 'docs', ARRAY['data', 'v', 'big'])});
sql(q{UPDATE docs SET big = 9007199254740993 WHERE id = 1});
ok(wait_drained($node, 'b', timeout => 30), 'the update drains');
my $item = fake_item_map($fake, 'docs', 'id')->{1};
is(json_encode([ $item->{data}, $item->{big} ]), '["\\"x\\"","9007199254740993"]',
	'item 1 after capture: the JSON text of its string, the exact bigint');
sql(q{SELECT directus_sync.resync('b', 'docs')});
ok(wait_for('the resync', sub { sql(q{SELECT count(*) FROM directus_sync.resync_job}) == 0
	&& sql(q{SELECT count(*) FROM directus_sync.outbox}) == 0 }, timeout => 30), 'the resync drains');
$item = fake_item_map($fake, 'docs', 'id')->{1};
is(json_encode([ $item->{data}, $item->{big} ]), '["\\"x\\"","9007199254740993"]',
	'item 1 after a resync: the same as capture sent');
$node->stop;
done_testing();
