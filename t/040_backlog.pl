# A backlog: what a claim reads and what it ships. The worker must take a
# window of the queue at a cost that follows the window, not the backlog
# (index scans whose plans no statistics can change), gather every queued
# row of each item it takes, so that a backlog collapses to at most one
# request per item, and wake for an item whose backoff ends even when
# nothing else would wake it.
#
#   - a backlog built while the remote is paused (every item inserted, then
#     updated after all the other inserts, half of them deleted): each item
#     is sent in one request, the deleted ones in none;
#   - the claim's plans, read from auto_explain in the server log, after
#     ANALYZE of a large outbox, of an empty one and of one holding a single
#     hot item, and with no statistics at all: the window is read by index
#     scans of the indexes named, rows named by id by one probe each, and
#     nothing sorts, hashes or scans the outbox as a whole;
#   - a transaction that drew a lower id commits after higher ones were
#     delivered: its change arrives at once, not at the next scan from the
#     start;
#   - an item backing off alone is retried when its backoff ends, with
#     poll_interval at 60 s and nothing else to wake the worker.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $fake = start_fake(collections => { articles => { pk => 'id' } });
# No fallback poll to speak of: commits wake the worker, and so must the end
# of an item's backoff. auto_explain logs every plan, with the process type.
my $node = new_sync_node('backlog', extra_conf => q{
directus_sync.poll_interval = 60000
directus_sync.retry_min_delay = 200
shared_preload_libraries = 'directus_sync, auto_explain'
auto_explain.log_min_duration = 0
auto_explain.log_nested_statements = on
auto_explain.log_format = json
log_line_prefix = '%m [%p] %b '
log_statement = 'none'
});
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text, v int NOT NULL DEFAULT 0)});
# 10 items per batch: a window reads 80 rows, a small part of each backlog.
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token', batch_max_items => 10)");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'v'])});
sub articles_in_table { return table_rows($node, 'SELECT id, title, v FROM articles', 'id') }

# The keys an /items request carries: objects with an id, or keys.
sub request_keys
{
	my ($req) = @_;
	my @keys = $req->{path} =~ m{^/items/articles/([^/?]+)} ? ($1) : ();
	my $body = $req->{body};
	$body = $body->{keys} if ref $body eq 'HASH' && ref $body->{keys} eq 'ARRAY';
	push @keys, map { ref $_ eq 'HASH' ? $_->{id} // () : $_ } @$body if ref $body eq 'ARRAY';
	return @keys;
}

# key => number of requests (of those the fake accepted) that carried it
sub requests_per_item
{
	my ($since) = @_;
	my %n;
	for my $req (@{ fake_requests($fake, $since, 'articles') })
	{
		next unless $req->{status} < 300;
		my %once = map { $_ => 1 } request_keys($req);
		$n{$_}++ for keys %once;
	}
	return \%n;
}

# ---------------------------------------------------------------------------
# A backlog collapses to one request per item

sub mixed_backlog
{
	my ($from, $to) = @_;
	sql("INSERT INTO articles SELECT g, 'item ' || g, 0 FROM generate_series($from, $to) g");
	sql("UPDATE articles SET v = v + 1, title = title || ' updated' WHERE id BETWEEN $from AND $to");
	sql("DELETE FROM articles WHERE id BETWEEN $from AND $to AND id % 2 = 0");
}

sql(q{SELECT directus_sync.pause('b')});
mixed_backlog(1, 400);
is(outbox_count($node, 'b'), 1000, 'backlog: 400 inserts, 400 updates and 200 deletes queued while paused');
my $mark = last_seq($fake);
sql(q{SELECT directus_sync.resume('b')});
ok(wait_drained($node, 'b'), 'backlog: drained');
compare_items(fake_items($fake, 'articles'), articles_in_table(), 'id', 'backlog: the remote holds what the table holds');
my $per_item = requests_per_item($mark);
my @twice = grep { $per_item->{$_} > 1 } sort { $a <=> $b } keys %$per_item;
my @deleted_sent = grep { $_ % 2 == 0 } sort { $a <=> $b } keys %$per_item;
is(scalar(grep { $_ % 2 } keys %$per_item), 200, 'backlog: every item still there was sent');
is(scalar @twice, 0, 'backlog: each item in one request, its insert and update coalesced across the queue')
  or diag('items sent more than once (count): ' . join(' ', map { "$_($per_item->{$_})" } @twice[ 0 .. 9 ]));
is(scalar @deleted_sent, 0, 'backlog: an item deleted before it was ever shipped is sent in no request')
  or diag('deleted items sent: ' . join(' ', @deleted_sent[ 0 .. 9 ]));
my @methods = sort keys %{ { map { ($_->{method} => 1) } @{ fake_requests($fake, $mark, 'articles') } } };
is("@methods", 'POST', 'backlog: creates only, no update or delete request');
is(sql('SELECT count(*) FROM directus_sync.dead_letter'), 0, 'backlog: no dead letter');

# ---------------------------------------------------------------------------
# The claim's plans, whatever the statistics

my @plans;    # [statistics, query text, plan, whole_outbox] of the worker's statements on the outbox

# The plans auto_explain logged for the worker since byte $offset of the log.
sub worker_plans
{
	my ($offset) = @_;
	my @out;
	for my $msg (split /\n(?=\d{4}-\d\d-\d\d )/, slurp_file($node->logfile, $offset))
	{
		next unless $msg =~ /directus_sync worker LOG:  duration: [\d.]+ ms  plan:\n(.*)$/s;
		(my $json = $1) =~ s/^\t//mg;
		my $explain = json_decode($json);
		push @out, [ $explain->{'Query Text'}, $explain->{Plan} ]
		  if $explain->{'Query Text'} =~ /directus_sync\.outbox/;
	}
	return @out;
}

# The nodes of a plan, depth first, as "Node Type[ using Index Name][ on
# Relation Name][: Index Cond]" lines.
sub plan_nodes
{
	my ($node) = @_;
	my $line = $node->{'Node Type'};
	$line .= " using $node->{'Index Name'}" if $node->{'Index Name'};
	$line .= " on $node->{'Relation Name'}" if $node->{'Relation Name'};
	$line .= ": $node->{'Index Cond'}" if $node->{'Index Cond'};
	return ($line, map { plan_nodes($_) } @{ $node->{Plans} // [] });
}

# Whether a plan node reads a remote's whole queue: a sequential or bitmap
# scan of the outbox, or an index scan with no condition beyond remote_id
# (outbox_retry_idx holds the rows in trouble only; a TID scan reads the
# rows it is given).
sub reads_queue
{
	my ($node) = @_;
	return 0 unless ($node->{'Relation Name'} // '') eq 'outbox' && $node->{'Node Type'} =~ /Scan$/;
	return 1 if $node->{'Node Type'} =~ /^(?:Seq Scan|Bitmap Heap Scan)$/;
	return 0 if $node->{'Node Type'} eq 'Tid Scan' || ($node->{'Index Name'} // '') eq 'outbox_retry_idx';
	return ($node->{'Index Cond'} // '') !~ /\b(?:id|collection|item_key)\b/;
}

sub all_nodes
{
	my ($node) = @_;
	return ($node, map { all_nodes($_) } @{ $node->{Plans} // [] });
}

# What in a plan reads a remote's whole queue (but under a LIMIT), or sorts,
# hashes or materializes what it read: a description, or ''.
sub whole_outbox
{
	my ($node, $limited) = @_;
	my $type = $node->{'Node Type'};
	return "$type on outbox" if reads_queue($node) && !$limited;
	return $type if $type =~ /^(?:Sort|Incremental Sort|Hash|Hash Join|Merge Join|Materialize)$/
	  && grep { reads_queue($_) } all_nodes($node);
	$limited ||= $type eq 'Limit';
	return join('', map { whole_outbox($_, $limited) } @{ $node->{Plans} // [] });
}

# Drains a backlog that $build queues (and analyzes) while the remote is
# paused; returns the worker's plans meanwhile.
sub plans_with
{
	my ($what, $build) = @_;
	sql(q{SELECT directus_sync.pause('b')});
	$build->();
	my $offset = -s $node->logfile;
	sql(q{SELECT directus_sync.resume('b')});
	ok(wait_drained($node, 'b'), "plans, $what: drained");
	compare_items(fake_items($fake, 'articles'), articles_in_table(), 'id', "plans, $what: the remote holds the table");
	# (an EXISTS reads one row: "is the outbox empty?", when the worker is idle)
	return map { [ $what, $_->[0], join("\n", plan_nodes($_->[1])),
		whole_outbox($_->[1], $_->[0] =~ /EXISTS \(SELECT FROM directus_sync\.outbox\)/) ] } worker_plans($offset);
}

my $next = 10000;
sub backlog_of
{
	my ($n) = @_;
	mixed_backlog($next, $next + $n - 1);
	$next += $n;
}

my %runs = (
	'ANALYZE of a large outbox' => sub { backlog_of(4000); sql('ANALYZE directus_sync.outbox') },
	'ANALYZE of an empty outbox' => sub { sql('ANALYZE directus_sync.outbox'); backlog_of(4000) },
	'no statistics' => sub {
		sql(q{DELETE FROM pg_statistic WHERE starelid = 'directus_sync.outbox'::regclass});
		backlog_of(4000);
	},
	'ANALYZE of a single hot item' => sub {
		sql("INSERT INTO articles VALUES (999, 'hot', 0)");
		sql(q{DO $$ BEGIN FOR i IN 1..3000 LOOP UPDATE articles SET v = v + 1 WHERE id = 999; END LOOP; END $$});
		sql('ANALYZE directus_sync.outbox');
		backlog_of(4000);
	},
);
for my $what (sort keys %runs)
{
	my @got = plans_with($what, $runs{$what});
	ok(@got > 10, "plans, $what: the worker's plans are logged (" . scalar(@got) . ')');
	push @plans, @got;
}

# Each read of a claim has one shape. (The parameters show as their values.)
my $p = qr/(?:\$\d|'?\d+'?(?:::bigint)?)/;
my %shape = (
	'the window scan (queue order from the mark)' => [ qr/o\.id >= \$2 ORDER BY o\.id/,
		qr/^Index Scan using outbox_pkey on outbox: \(\(remote_id = $p\) AND \(id >= $p\)\)$/ ],
	'the gathering of the items\' rows' => [ qr/WITH ORDINALITY AS k\(collection/,
		qr/^Nested Loop\nFunction Scan\nLimit\nIndex Scan using outbox_item_idx on outbox: \(\(remote_id = $p\) AND \(collection = k\.collection\) AND \(item_key = k\.key\)\)$/ ],
	'the items in trouble' => [ qr/o\.attempts > 0 ORDER BY o\.retry_at/,
		qr/^Index Scan using outbox_retry_idx on outbox: \(remote_id = $p\)$/ ],
	'the creates marked as sent' => [ qr/SET sent_at = now\(\)/, qr/^ModifyTable on outbox\nTid Scan on outbox$/ ],
	'the delivered rows deleted' => [ qr/_queued_tids\(rid, delivered\)/, qr/^ModifyTable on outbox\nTid Scan on outbox$/ ],
	'rows found by id (_queued_tids)' => [ qr/LATERAL \(SELECT o\.ctid/,
		qr/^Result\nNested Loop\nFunction Scan\n(?:Subquery Scan\n)?Index Scan using outbox_pkey on outbox: \(\(remote_id = $p\) AND \(id = d\.id\)\)$/ ],
);
for my $name (sort keys %shape)
{
	my ($text_re, $plan_re) = @{ $shape{$name} };
	for my $what (sort keys %runs)
	{
		my @these = grep { $_->[0] eq $what && $_->[1] =~ $text_re } @plans;
		my @wrong = grep { $_->[2] !~ $plan_re } @these;
		ok(@these && !@wrong, "plans, $what: $name: " . scalar(@these) . ' plans, each an index scan of its index')
		  or diag($wrong[0] ? "for example:\n$wrong[0][1]\n$wrong[0][2]" : 'no such query was run');
	}
}
# Everything the worker runs on the outbox (readiness, claims, _record) is
# read through an index; nothing sorts, hashes or materializes what it reads
# of the outbox, or reads the outbox whole.
# (Left out: two statements of other parts of the worker, run once per worker
# start and per window: the hold of remotes with creates left on their way,
# and the unmarking of creates whose fate is known.)
my @whole = grep { $_->[3] && $_->[1] !~ /u\.until|SET sent_at = NULL/ } @plans;
is(scalar @whole, 0, 'plans: no plan of the worker scans the outbox whole, or sorts or hashes it ('
	. scalar(@plans) . ' plans)')
  or diag(join("\n", map { "$_->[3] ($_->[0]) in: " . substr($_->[1], 0, 100) . "\n$_->[2]" }
	  grep { defined } (values %{ { map { (substr($_->[1], 0, 40) . $_->[3] => $_) } @whole } })[ 0 .. 4 ]));

# ---------------------------------------------------------------------------
# A lower id committed late

# A session draws an id and stays open while higher ids commit and are
# delivered; the worker's low-water mark must not leave its change behind
# once it commits (a scan from the start only comes every 10 s).
my $late = $node->background_psql('postgres');
$late->query_safe(q{BEGIN; INSERT INTO articles VALUES (50000, 'committed late', 0)});
for my $i (1 .. 5)
{
	sql("INSERT INTO articles VALUES (" . (50000 + $i) . ", 'early $i', 0)");
	ok(wait_for("item " . (50000 + $i), sub { exists fake_item_map($fake, 'articles', 'id')->{ 50000 + $i } }, timeout => 20),
		"late id: a higher id committed meanwhile is delivered ($i)");
}
$late->query_safe('COMMIT');
my $committed = time();
# Other changes keep coming, so that the scan is never found empty.
my $arrived = 0;
for my $i (1 .. 40)
{
	sql("INSERT INTO articles VALUES (" . (50100 + $i) . ", 'traffic', 0)");
	$arrived = exists fake_item_map($fake, 'articles', 'id')->{50000};
	last if $arrived;
	sleep(0.1);
}
$arrived ||= wait_for('the late item', sub { exists fake_item_map($fake, 'articles', 'id')->{50000} }, timeout => 30);
my $late_secs = time() - $committed;
ok($arrived && $late_secs < 5, sprintf('late id: its change arrives %.1f s after its commit, not at a scan from the start', $late_secs));
$late->quit;
ok(wait_drained($node, 'b'), 'late id: drained');
compare_items(fake_items($fake, 'articles'), articles_in_table(), 'id', 'late id: the remote holds the table');

# ---------------------------------------------------------------------------
# An item backing off alone wakes the worker

ctl($fake, 'POST', 'fail', { status => 500, key => 60000, count => 1, collection => 'articles' });
$mark = last_seq($fake);
sql(q{INSERT INTO articles VALUES (60000, 'fails once', 0)});
ok(wait_for('item 60000 to arrive', sub { exists fake_item_map($fake, 'articles', 'id')->{60000} }, timeout => 15),
	'item backoff: the item arrives without a commit or a poll to wake the worker');
my @tries = grep { grep { $_ eq '60000' } request_keys($_) } @{ fake_requests($fake, $mark, 'articles') };
is(join(' ', map { $_->{status} } @tries), '500 200', 'item backoff: it failed once, then arrived');
my $gap = @tries == 2 ? $tries[1]{ts} - $tries[0]{ts} : -1;
# (An idle worker also looks again every second, at most: what tells is the
# wait well under that.)
ok($gap >= 0.09 && $gap < 0.7,
	sprintf('item backoff: retried %.2f s after the failure (backoff 0.1 to 0.2 s; poll_interval 60 s)', $gap));
ok(wait_drained($node, 'b'), 'item backoff: drained');

ok(!server_crash($node), 'no server process crashed');
$node->stop;
done_testing();
