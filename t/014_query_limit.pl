# A remote whose Directus sets QUERY_LIMIT_MAX: every answer, the read-back
# of a batch update included, lists at most that many items, so an update's
# answer that leaves a key out does not say the item is missing. The fake
# Directus follows Directus's limit rules (--query-limit-max, checked
# against a real Directus by t/002 and t/022). Also: a create that meets
# RECORD_NOT_UNIQUE after a probe found the item missing becomes an update,
# and a remote that keeps answering both "exists" and "missing" about an
# item ends with a dead letter that says so, after a bounded number of
# requests.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('query_limit');
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text, v int NOT NULL DEFAULT 1)});
# The default batch limit, 500 items: more than the remote lists.
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token', batch_max_items => 500)");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'v'])});

sub rows { return table_rows($node, "SELECT id, title, v FROM articles WHERE $_[0]", 'id') }
sub on_fake { my ($lo, $hi) = @_; return [ grep { $_->{id} >= $lo && $_->{id} <= $hi } @{ fake_items($fake, 'articles') } ] }
sub dead_letters { return sql('SELECT count(*) FROM directus_sync.dead_letter') }
sub summary { return join(' ', map { "$_->{method}($_->{items})=$_->{status}" } @{ $_[0] }) }

# ---------------------------------------------------------------------------
# 150 items updated in one statement, the remote listing 100, then 30

for my $case ([ 100, 1 ], [ 30, 1001 ])
{
	my ($cap, $lo) = @$case;
	my $hi = $lo + 149;
	ctl($fake, 'POST', 'mode', { query_limit_max => $cap });
	sql("INSERT INTO articles (id, title) SELECT g, 'new' FROM generate_series($lo, $hi) g");
	ok(wait_drained($node, 'b'), "cap $cap: 150 creates delivered");
	my $mark = last_seq($fake);
	sql("UPDATE articles SET title = 'updated', v = v + 1 WHERE id BETWEEN $lo AND $hi");
	ok(wait_drained($node, 'b'), "cap $cap: 150 updates in one statement settle");
	my $log = fake_requests($fake, $mark, 'articles');
	is(dead_letters(), 0, "cap $cap: no dead letter") or diag(summary($log));
	compare_items(on_fake($lo, $hi), rows("id BETWEEN $lo AND $hi"), 'id', "cap $cap: every update arrived");
	is(scalar(grep { $_->{method} eq 'POST' } @$log), 0,
		"cap $cap: no create of an item the remote has (the keys the answer left out were not taken for missing)")
	  or diag(summary($log));
	ok(!grep({ $_->{status} >= 300 } @$log), "cap $cap: no request refused") or diag(summary($log));
	my $most = 2 + int((150 + $cap - 1) / $cap);
	ok(@$log <= $most, "cap $cap: " . scalar(@$log) . " requests (at most $most): " . summary($log));
	my @probes = grep { $_->{method} eq 'GET' } @$log;
	ok(@probes && !grep({ ($_->{query}{meta} // '') ne 'filter_count' || ($_->{query}{limit} // '') ne '-1' } @probes),
		"cap $cap: the probes ask for limit=-1 and meta=filter_count");
	ok(!grep({ $_->{method} eq 'PATCH' && ($_->{query}{limit} // '') ne '-1' } @$log),
		"cap $cap: the updates ask to read back every key (limit=-1)");
}

# Once the window has learned the cap, its later updates carry no more.
ctl($fake, 'POST', 'mode', { query_limit_max => 100 });
sql(q{INSERT INTO articles (id, title) SELECT g, 'new' FROM generate_series(2001, 2600) g});
ok(wait_drained($node, 'b'), '600 creates delivered');
my $mark = last_seq($fake);
sql(q{UPDATE articles SET v = v + 1 WHERE id BETWEEN 2001 AND 2600});
ok(wait_drained($node, 'b'), '600 updates in one statement settle');
my $log = fake_requests($fake, $mark, 'articles');
compare_items(on_fake(2001, 2600), rows('id BETWEEN 2001 AND 2600'), 'id', '600 updates: every one arrived');
is(dead_letters(), 0, '600 updates: no dead letter');
my @patches = grep { $_->{method} eq 'PATCH' } @$log;
is($patches[0]{items}, 500, '600 updates: the first update carries a full batch (500)');
ok(!grep({ $_->{items} > 100 } @patches[ 1 .. $#patches ]),
	'600 updates: the later ones carry at most the 100 items the remote lists: ' . summary($log));
ctl($fake, 'POST', 'mode', { query_limit_max => undef });

# ---------------------------------------------------------------------------
# An item the probe found missing, then RECORD_NOT_UNIQUE to its create
# (another writer created it in between, here faked once): an update.

sql(q{INSERT INTO articles (id, title) VALUES (3001, 'three thousand and one')});
ok(wait_drained($node, 'b'), 'item 3001 delivered');
api_request($fake, 'DELETE', '/items/articles/3001');
ctl($fake, 'POST', 'fail', { status => 400, code => 'RECORD_NOT_UNIQUE', method => 'POST', key => 3001,
	count => 1, message => 'Value "3001" for field "id" in collection "articles" has to be unique.' });
$mark = last_seq($fake);
sql(q{UPDATE articles SET title = 'changed while missing' WHERE id = 3001});
ok(wait_drained($node, 'b'), 'update of a missing item whose create meets RECORD_NOT_UNIQUE: settled');
is(dead_letters(), 0, '... no dead letter') or diag(summary(fake_requests($fake, $mark, 'articles')));
compare_items(on_fake(3001, 3001), rows('id = 3001'), 'id', '... and the remote has the item');

# ---------------------------------------------------------------------------
# A remote that refuses every create of an item as existing, while no
# update finds it: asked a bounded number of times, then a dead letter.

ctl($fake, 'POST', 'fail', { status => 400, code => 'RECORD_NOT_UNIQUE', method => 'POST', key => 3002,
	count => -1, message => 'Value "3002" for field "id" in collection "articles" has to be unique.' });
$mark = last_seq($fake);
sql(q{INSERT INTO articles (id, title) VALUES (3002, 'contested'), (3003, 'fine')});
ok(wait_drained($node, 'b'), 'a remote that contradicts itself: the window settles');
$log = fake_requests($fake, $mark, 'articles');
ok(@$log <= 30, 'a remote that contradicts itself: ' . scalar(@$log) . ' requests (at most 30): ' . summary($log));
is(sql(q{SELECT item_key || ' ' || http_status || ' ' || error_code FROM directus_sync.dead_letter}),
	'3002 400 RECORD_NOT_UNIQUE', 'a remote that contradicts itself: the item is a dead letter');
like(sql(q{SELECT error_message FROM directus_sync.dead_letter}), qr/both that it has this item and that it does not/,
	'... whose message says why');
compare_items(on_fake(3003, 3003), rows('id = 3003'), 'id', '... and the other item is delivered');
ctl($fake, 'DELETE', 'fail');

is(server_crash($node), '', 'no crash in the server log');
done_testing();
