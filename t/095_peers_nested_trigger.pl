# Nested AFTER triggers on a sync's delete, with peers that apply as
# Directus does: a hub with b and c. b deletes its items 8 and 9; on a,
# another AFTER trigger (sorting before capture's) reacts to the sync's
# delete: item 8 is deleted and made anew (t/093's case), item 9 gets
# another key and then the key back (a new item, born later). c takes a's
# changes but sends none back (its link to a is disabled, as in t/076), so
# nothing heals a difference. c must end as a. Found by the adversarial
# review of session 26: with the sync's delete kept when it finds no row
# (capture.c keep_unmade_delete) but made on whatever row had the key, a
# deleted its new item 9 while c kept it. Open: b never gets a's new items
# (the loop guard drops every change of the item a sync wrote in that
# transaction, the trigger's too), marked TODO.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

plan skip_all => 'the peer Directus needs python3-psycopg2' unless have_psycopg2();

my @dbs = qw(a b c);
my %user = map { $dbs[$_] => sprintf('aaaaaaaa-0000-4000-8000-%012x', 10 + $_) } 0 .. $#dbs;
sub token { return "token-$_[0]-on-$_[1]" }

my $node = new_sync_node('peers_nested_trigger', databases => [@dbs]);
my $sql = sub { return run_sql($node, $_[1], $_[0]) };
my $tables = slurp_file('t/directus_tables.sql');
for my $db (@dbs)
{
	$sql->($db, 'CREATE TABLE articles (id int PRIMARY KEY, title text)');
	$sql->($db, q{SELECT directus_sync.enable_clocks('articles')});
	$sql->($db, $tables);
}
my %peer = (
	a => start_peer($node, 'a', tokens => { token('b', 'a') => $user{b}, token('c', 'a') => $user{c} }),
	b => start_peer($node, 'b', tokens => { token('a', 'b') => $user{a} }),
	c => start_peer($node, 'c', tokens => { token('a', 'c') => $user{a} }));
my $add = sub
{
	my ($x, $y) = @_;
	$sql->($x, "SET log_statement = 'none'; SELECT directus_sync.add_remote('$y', '$peer{$y}{url}', '"
		  . token($x, $y) . "', inbound_user => '$user{$y}')");
	$sql->($x, "SELECT directus_sync.subscribe('$y', 'articles', ARRAY['title'])");
};
$add->('a', 'b');
$add->('a', 'c');
$add->('b', 'a');
$sql->('c', "SET log_statement = 'none'; SELECT directus_sync.add_remote('a', '$peer{a}{url}', '" . token('c', 'a') . "', inbound_user => '$user{a}', enabled => false)");
$sql->('c', "SELECT directus_sync.subscribe('a', 'articles', ARRAY['title'])");

my $drained = sub {
	for my $db (@dbs)
	{
		return 0 unless $sql->($db, q{SELECT coalesce(bool_and(queued = 0 AND in_flight = 0), true) FROM directus_sync.remote_status WHERE enabled}) eq 't';
	}
	return 1;
};
my $state = sub {
	my ($db) = @_;
	return $sql->($db, q{SELECT coalesce(string_agg(id || ':' || title || ':' || (directus_sync_meta->>'b'), ' ' ORDER BY id), '-') FROM articles});
};

$sql->('b', q{INSERT INTO articles VALUES (8, 'eight'), (9, 'nine')});
ok(wait_for('the items on c', sub { $sql->('c', 'SELECT count(*) FROM articles') eq '2' }), "b's items reach c");
ok(wait_for('drained', sub { $drained->() }), 'every outbox drains');

$sql->('a', q{SELECT directus_sync.pause('c')});
$sql->('a', q{CREATE FUNCTION react() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 AND NEW.id = 8 THEN
        DELETE FROM articles WHERE id = 8;
        INSERT INTO articles (id, title) VALUES (8, 'renewed');
    ELSIF pg_trigger_depth() = 1 AND NEW.id = 9 THEN
        UPDATE articles SET id = 109 WHERE id = 9;
        UPDATE articles SET id = 9, title = 'back' WHERE id = 109;
    END IF;
    RETURN NULL;
END $$});
$sql->('a', q{CREATE TRIGGER a_react AFTER UPDATE ON articles FOR EACH ROW EXECUTE FUNCTION react()});
$sql->('b', q{DELETE FROM articles WHERE id = 8});
$sql->('b', q{DELETE FROM articles WHERE id = 9});
ok(wait_for('b to a drained', sub { $sql->('b', q{SELECT queued = 0 AND in_flight = 0 FROM directus_sync.remote_status WHERE remote = 'a'}) eq 't' }),
	"b's deletes reach a");
$sql->('a', q{DROP TRIGGER a_react ON articles});
like($state->('a'), qr/^8:renewed:\S+ 9:back:\S+$/, "a holds the trigger's new items 8 and 9");
$sql->('a', q{SELECT directus_sync.resume('c')});
ok(wait_for('every outbox to drain', sub { $drained->() && sleep(2) && $drained->() }, timeout => 120),
	'every outbox drains');
my %end = map { $_ => $state->($_) } @dbs;
my $tombstones = q{SELECT string_agg(item_key || ' d=' || coalesce(deleted, '-') || ' b=' || coalesce(born, '-')
                                       || ' u=' || coalesce(swept, '-'), E'\n' ORDER BY item_key) FROM directus_sync.tombstone};
is($end{c}, $end{a}, 'c ends as a')
  or diag(join("\n", map({ "$_: $end{$_}" } @dbs), "a's tombstones: " . $sql->('a', $tombstones),
			   "c's tombstones: " . $sql->('c', $tombstones)));
TODO:
{
	local $TODO = 'the loop guard drops the nested trigger\'s changes to the sender b';
	is($end{b}, $end{a}, 'b ends as a');
}
is(server_crash($node), '', 'no crash in the server log');
stop_peer($peer{$_}) for @dbs;
$node->stop;
done_testing();
