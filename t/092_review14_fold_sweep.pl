# Review 14: the sweep a sync's live item came with ("u": a resync, a
# replay, the create for a remote that lacked it) is kept in the tombstone
# of the instance that takes it, and goes on with the item to its other
# remotes (clock_row.c, capture.c). Queued rows of the item fold into one
# (queue_coalesce.c) that keeps the latest sweep: an update's "u" replaced
# an earlier, later one, and a local delete after the item dropped it, so
# the remote got the item or its delete without the sweep, and decided a
# later create otherwise than this instance.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('review14_fold_sweep');
sub sql { return run_sql($node, $_[0]) }

my ($b_user, $b_node, $clocks) = b_and_c_paused($node, $fake);
my %c = %$clocks;

# b's sync of item id: a create when a lacks it, else an update
sub deliver
{
	my ($id, $title, $meta) = @_;
	my $action = sql("SELECT count(*) FROM articles WHERE id = $id") ? 'update' : 'create';
	my $write = $action eq 'create'
	  ? "INSERT INTO articles (id, title, directus_sync_meta) VALUES ($id, '$title', '$meta'::jsonb || '{\"s\": \"$b_node\"}')"
	  : "UPDATE articles SET title = '$title', directus_sync_meta = '$meta'::jsonb || '{\"s\": \"$b_node\"}' WHERE id = $id";
	sql(qq{BEGIN; $write;
INSERT INTO directus_activity (action, "user", collection, item) VALUES ('$action', '$b_user', 'articles', '$id');
COMMIT});
}

# item 8: created beside sweep c2, updated beside c4, then deleted here
deliver(8, 'x', qq{{"b": "$c{1}", "f": {"title": "$c{3}"}, "u": "$c{2}"}});
deliver(8, 'y', qq{{"b": "$c{1}", "f": {"title": "$c{5}"}, "p": {"title": "$c{3}"}, "u": "$c{4}"}});
is(sql(q{SELECT string_agg(payload->'directus_sync_meta'->>'u', ' ' ORDER BY o.id) FROM directus_sync.outbox o
          JOIN directus_sync.remote r ON r.id = o.remote_id WHERE r.name = 'c' AND item_key = '8'}),
	"$c{2} $c{4}", "each of b's syncs of item 8 goes on to c with its sweep");
sql(q{DELETE FROM articles WHERE id = 8});
# item 9: created beside sweep c4, then updated beside the earlier c2
deliver(9, 'x', qq{{"b": "$c{1}", "f": {"title": "$c{5}"}, "u": "$c{4}"}});
deliver(9, 'y', qq{{"b": "$c{1}", "f": {"title": "$c{6}"}, "p": {"title": "$c{5}"}, "u": "$c{2}"}});
is(sql(q{SELECT swept FROM directus_sync.tombstone WHERE item_key = '9'}), $c{4},
	"a's tombstone keeps item 9's later sweep");

my $mark = last_seq($fake);
sql(q{SELECT directus_sync.resume('c')});
wait_drained($node, 'c');
my %sent;
for my $r (@{ fake_requests($fake, $mark, 'articles') })
{
	for my $item (ref $r->{body} eq 'ARRAY' ? @{ $r->{body} } : ($r->{body} // ()))
	{
		next unless ref $item eq 'HASH' && ref $item->{directus_sync_meta} eq 'HASH';
		my $id = $item->{id} // ($r->{path} =~ m{/(\d+)$} ? $1 : '?');
		push @{ $sent{$id} }, $item->{directus_sync_meta};
	}
}
my $json = JSON::PP->new->canonical;
ok(@{ $sent{8} // [] } >= 1 && !grep({ !defined $_->{d} } @{ $sent{8} }),
	'c is sent the delete of item 8 alone (the create, update and delete fold)')
  or diag($json->encode(\%sent));
is(scalar(grep { ($_->{u} // '') eq $c{4} } @{ $sent{8} // [] }), scalar(@{ $sent{8} // [] }),
	"... with the latest sweep the item came with (u: c4)")
  or diag($json->encode(\%sent));
ok(@{ $sent{9} // [] } >= 1, 'c is sent item 9') or diag($json->encode(\%sent));
is(scalar(grep { ($_->{u} // '') eq $c{4} } @{ $sent{9} // [] }), scalar(@{ $sent{9} // [] }),
	"... with its later sweep (u: c4), not the update's earlier one")
  or diag($json->encode(\%sent));

is(server_crash($node), '', 'no crash in the server log');
stop_fake($fake);
$node->stop;
done_testing();
