# Review 12: two deletes of one item queued for a remote fold into one
# (queue_coalesce.c) that carries both, as the remote's tombstone would
# keep them. Instance a lacks item 7 and gets from b, as creates that carry
# a delete alone (the remote lacked the item), B's delete {b: c2, d: c3}
# and then a sweep {d: c5}; both are news, and both are queued for c
# (paused). Kept as the later row alone, the fold sent c the sweep only,
# and c took item X (born c1, title at c6: it lost the key to B) that a
# and the model skip. The fold now sends {b: c2, d: c3, u: c5}.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('review12_fold_deletes');
sub sql { return run_sql($node, $_[0]) }

my ($b_user, $b_node, $clocks) = b_and_c_paused($node, $fake);
my %c = %$clocks;

# a sync's create of item 7 carrying a delete alone, from b
sub deliver_delete
{
	my ($meta) = @_;
	sql(qq{BEGIN;
INSERT INTO articles (id, directus_sync_meta) VALUES (7, '$meta'::jsonb || '{"s": "$b_node"}');
INSERT INTO directus_activity (action, "user", collection, item) VALUES ('create', '$b_user', 'articles', '7');
COMMIT});
}
deliver_delete(qq{{"b": "$c{2}", "d": "$c{3}"}});
deliver_delete(qq{{"d": "$c{5}"}});
is(sql(q{SELECT format('%s %s %s', born, deleted, swept) FROM directus_sync.tombstone WHERE item_key = '7'}),
	"$c{2} $c{3} $c{5}", "a's tombstone keeps B's delete and the sweep");
is(sql(q{SELECT count(*) FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
          WHERE r.name = 'c' AND o.item_key = '7' AND o.op = 'd'}), '2', 'both deletes are queued for c');

my $mark = last_seq($fake);
sql(q{SELECT directus_sync.resume('c')});
wait_drained($node, 'c');
my @metas;
for my $r (@{ fake_requests($fake, $mark, 'articles') })
{
	push @metas, map { $_->{directus_sync_meta} }
	  grep { ref $_ eq 'HASH' && ref $_->{directus_sync_meta} eq 'HASH' && defined $_->{directus_sync_meta}{d} }
	  (ref $r->{body} eq 'ARRAY' ? @{ $r->{body} } : ($r->{body} // ()));
}
ok(@metas >= 1, 'c is sent the delete of item 7') or diag(explain(fake_requests($fake, $mark)));
is(scalar(grep { ($_->{b} // '') eq $c{2} && ($_->{d} // '') eq $c{3} && ($_->{u} // '') eq $c{5} } @metas),
	scalar(@metas), "every delete c is sent carries B's delete and the sweep (b: c2, d: c3, u: c5)")
	or diag(explain(\@metas));

is(server_crash($node), '', 'no crash in the server log');
stop_fake($fake);
$node->stop;
done_testing();
