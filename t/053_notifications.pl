# Failure notifications (docs/replication.md, "Notifications"): at most
# one per remote per directus_sync.notify_interval; the next one counts the
# failures in between; the row is inserted as the owner of
# directus_notifications (Directus's role); a failure to notify (a WARNING)
# never stops delivery; notify_interval changes at a reload (SIGHUP).
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { alerts => { pk => 'id' }, articles => { pk => 'id' } });
my $node = new_sync_node('notify', extra_conf => "directus_sync.notify_interval = '1h'\n");
sub sql { return run_sql($node, $_[0]) }

my $user = '0b5e4a5c-1111-4222-8333-444455556666';
sql(qq{
	CREATE ROLE directus;
	CREATE TABLE alerts (id int PRIMARY KEY, msg text);
	CREATE TABLE articles (id int PRIMARY KEY, title text);
	-- Directus's tables, owned by Directus's role; inserted_by tells who wrote a row.
	CREATE TABLE directus_users (id uuid PRIMARY KEY);
	CREATE TABLE directus_notifications (id serial PRIMARY KEY, timestamp timestamptz DEFAULT now(),
		status varchar(255) DEFAULT 'inbox',
		recipient uuid NOT NULL REFERENCES directus_users ON DELETE CASCADE,
		sender uuid, subject varchar(255), message text, collection varchar(64), item varchar(255),
		inserted_by name DEFAULT current_user);
	ALTER TABLE directus_users OWNER TO directus;
	ALTER TABLE directus_notifications OWNER TO directus;
	INSERT INTO directus_users VALUES ('$user');
	SELECT directus_sync.add_remote('n', '$fake->{url}', 'test-token', notify_users => ARRAY['$user']::uuid[]);
	SELECT directus_sync.subscribe('n', 'alerts', ARRAY['msg']);
	SELECT directus_sync.subscribe('n', 'articles', ARRAY['title']);
});
ctl($fake, 'POST', 'fail', { status => 400, code => 'INVALID_PAYLOAD', message => 'bad alert',
	collection => 'alerts', count => -1 });

sub notifications
{
	return json_decode(sql(q{SELECT coalesce(json_agg(n ORDER BY id), '[]') FROM directus_notifications n}));
}
sub dead { return remote_status($node, 'n')->{dead} }
my $next_alert = 0;
# A change the remote refuses (a dead letter), in its own transaction.
sub fail_once
{
	$next_alert++;
	sql("INSERT INTO alerts VALUES ($next_alert, 'alert $next_alert')");
	return wait_drained($node, 'n');
}

# ---------------------------------------------------------------------------
# One notification per interval; the next one counts the failures between

ok(fail_once(), 'a failure');
my $n = notifications();
is(scalar @$n, 1, 'the first failure: one notification');
like($n->[0]{message}, qr/\balerts\b.*\bbad alert\b/s, 'it tells of the failure');
unlike($n->[0]{message}, qr/more failures/, 'and of no earlier ones');
is($n->[0]{inserted_by}, 'directus', 'inserted as the owner of directus_notifications, not the worker\'s superuser');

ok(fail_once() && fail_once(), 'two more failures, each in a round of its own');
is(dead(), 3, 'three dead letters');
# Two refused items in one window are two failures, not one.
$next_alert += 2;
sql(sprintf("INSERT INTO alerts VALUES (%d, 'alert a'), (%d, 'alert b')", $next_alert - 1, $next_alert));
ok(wait_drained($node, 'n'), 'two more failures in one round');
is(dead(), 5, 'five dead letters');
is(scalar @{ notifications() }, 1, 'within notify_interval (1 h): no more notifications');

sql(q{ALTER SYSTEM SET directus_sync.notify_interval = 0});
$node->reload;   # SIGHUP
# Until the worker has taken the reload a failure is only counted.
for (1 .. 20) { last if @{ notifications() } > 1; fail_once() }
$n = notifications();
is(scalar @$n, 2, 'SIGHUP: notify_interval 0 takes effect without a restart: a second notification');
my $between = dead() - 2;
like($n->[1]{message}, qr/\b\Q$between\E more failures since the previous notification/,
	"the second notification counts the $between failures since the first");
like($n->[1]{message}, qr/item\W+\Q$next_alert\E\b/, '... and tells of the failure that made it');

# ---------------------------------------------------------------------------
# A failure to notify never stops delivery

sql(q{ALTER TABLE directus_notifications ADD CONSTRAINT refuse_all CHECK (false) NOT VALID});
my $dead_before = dead();
my $mark = last_seq($fake);
$next_alert++;
sql("BEGIN; INSERT INTO alerts VALUES ($next_alert, 'refused'); INSERT INTO articles VALUES (1, 'fine'); COMMIT");
ok(wait_drained($node, 'n'), 'a refused change and a good one, while notifying fails: settled');
is(dead(), $dead_before + 1, 'the refused change is a dead letter');
ok(wait_for('the warning', sub { slurp_file($node->logfile) =~ /WARNING:.*could not notify the users of remote "n"/ }),
	'the failed notification is a WARNING in the server log');
sql(q{INSERT INTO articles VALUES (2, 'later')});
ok(wait_drained($node, 'n'), 'a later change: delivered');
compare_items(fake_items($fake, 'articles'), table_rows($node, 'SELECT id, title FROM articles', 'id'), 'id',
	'notifying failed, delivery went on: the remote has the articles');
is(scalar @{ notifications() }, 2, 'no notification row was written');

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
