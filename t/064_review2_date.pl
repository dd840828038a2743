# Adversarial review 2: a remote's Date header far in the future (here the
# year 300000, which curl_getdate parses) is taken as the remote's clock:
# remote_state.clock_offset_ms holds about 9.4e15 ms, and the view
# remote_status (clock_offset_ms * interval '1 ms') fails with "interval out
# of range" for every remote: monitoring goes blind because one answer, from
# one remote or a proxy in front of it, carried a hostile Date. A year
# 2147483647 even overflows the int64 arithmetic in note_date (http.c).
# Expected: remote_status still answers; an absurd Date is ignored.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('review2_date');
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
sql(q{SELECT directus_sync.enable_clocks('articles', key_series => false)});

ctl($fake, 'POST', 'mode', { date_header => 'Fri, 31 Dec 300000 23:59:59 GMT' });
sql(q{INSERT INTO articles VALUES (1, 'one')});
wait_drained($node, 'b');

my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT remote, queued, clock_offset IS NOT NULL FROM directus_sync.remote_status});
is($ret, 0, 'remote_status answers after a remote sent a Date in the year 300000')
	or diag("remote_status: $err; clock_offset_ms = "
		. sql(q{SELECT clock_offset_ms FROM directus_sync.remote_state}));
ctl($fake, 'POST', 'mode', { date_header => undef });
done_testing();
