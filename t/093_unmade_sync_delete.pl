# A sync's delete that finds no row to make: b's delete of its item 8
# (with a sweep; c has the item) comes while another AFTER trigger, here, deletes the row
# and makes a new item 8 (born later, here). The sync's delete is kept in
# the tombstone and goes on to c all the same (capture.c
# keep_unmade_delete), its sweep with it; before, both were forgotten and
# c never got the sweep. It is queued behind the new item's create, and
# the outbox fold (queue_coalesce.c) must not fold it in: it names another
# item (born earlier), and folded, it took the new item's place, so c
# never got the new item.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('unmade_sync_delete');
sub sql { return run_sql($node, $_[0]) }

my ($b_user, $b_node, $clocks) = b_and_c_paused($node, $fake);
my %c = %$clocks;

# b's sync of item 8 as Directus writes it: $write, where META stands for
# b's directus_sync_meta, and its activity row
sub deliver
{
	my ($action, $write, $meta) = @_;
	$write =~ s/META/'$meta'::jsonb || '{"s": "$b_node"}'/;
	sql(qq{BEGIN; $write;
INSERT INTO directus_activity (action, "user", collection, item) VALUES ('$action', '$b_user', 'articles', '8');
COMMIT});
}

deliver('create', q{INSERT INTO articles (id, title, directus_sync_meta) VALUES (8, 'x', META)},
	qq{{"b": "$c{1}", "f": {"title": "$c{1}"}}});
# c has b's item (so that no request finds c lacking item 8, which would
# send it the item as it is here, whatever was folded), then its link is
# held again
sql(q{SELECT directus_sync.resume('c')});
ok(wait_drained($node, 'c'), "b's item 8 goes on to c");
is(fake_item_map($fake, 'articles', 'id')->{8}{title}, 'x', "c holds b's item 8");
sql(q{SELECT directus_sync.pause('c')});
sql(q{CREATE FUNCTION renew() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 AND NEW.id = 8 THEN
        DELETE FROM articles WHERE id = 8;
        INSERT INTO articles (id, title) VALUES (8, 'renewed');
    END IF;
    RETURN NULL;
END $$});
sql(q{CREATE TRIGGER a_renew AFTER UPDATE ON articles FOR EACH ROW EXECUTE FUNCTION renew()});
deliver('update', q{UPDATE articles SET directus_sync_meta = META WHERE id = 8},
	qq{{"b": "$c{1}", "d": "$c{3}", "u": "$c{2}"}});
sql(q{DROP TRIGGER a_renew ON articles});
is(sql(q{SELECT title FROM articles WHERE id = 8}), 'renewed', "a holds the trigger's new item 8");
is(sql(q{SELECT swept FROM directus_sync.tombstone WHERE item_key = '8'}), $c{2},
	"a's tombstone keeps the sweep b's delete came with");
my $new_born = sql(q{SELECT directus_sync_meta->>'b' FROM articles WHERE id = 8});
is(sql(q{SELECT string_agg(o.op, ' ' ORDER BY o.id) FROM directus_sync.outbox o
          JOIN directus_sync.remote r ON r.id = o.remote_id WHERE r.name = 'c'}),
	'd c d', "c's queue: the trigger's delete of b's item, the new item, b's delete");

my $mark = last_seq($fake);
sql(q{SELECT directus_sync.resume('c')});
ok(wait_drained($node, 'c'), 'the queue for c drains');
my @sent;
for my $r (@{ fake_requests($fake, $mark, 'articles') })
{
	push @sent, grep { ref $_ eq 'HASH' && ref $_->{directus_sync_meta} eq 'HASH' }
	  (ref $r->{body} eq 'ARRAY' ? @{ $r->{body} } : ($r->{body} // ()));
}
my $json = JSON::PP->new->canonical;
# (a's own clocks go as their 16 hex digits, which "s" completes)
ok(scalar(grep { ($_->{title} // '') eq 'renewed' && substr($_->{directus_sync_meta}{b} // '', 0, 16) eq substr($new_born, 0, 16) } @sent),
	"c is sent the trigger's new item 8")
  or diag($json->encode(\@sent));
ok(scalar(grep { ($_->{directus_sync_meta}{d} // '') eq $c{3} && ($_->{directus_sync_meta}{u} // '') eq $c{2} } @sent),
	"c is sent b's delete of item 8, with its sweep")
  or diag($json->encode(\@sent));
is(fake_item_map($fake, 'articles', 'id')->{8}{title}, 'renewed', "c holds the new item 8");

is(server_crash($node), '', 'no crash in the server log');
stop_fake($fake);
$node->stop;
done_testing();
