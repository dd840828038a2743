# Review 11: the outbox fold (queue_coalesce.c) restarts at a change of
# born clock "b" only when the earlier rows HAVE one. Item 5 of instance a
# is older than its clocks (made before subscribe turned them on: no "b"),
# so a local edit of its notes queues a row without "b". Then a sync from b
# brings b's item 5 (born bB): an unknown born is the oldest, b's item keeps
# the key whole and a's notes lose their clock (insert/insert). The fold to
# c starts from the row without "b" (born unknown: no restart when "b"
# appears) and merges a's (the loser's) notes clock into b's item: at c it
# beats the winner's own notes, as review 10 #1 did with a known born.
# Today already the row trigger (clock_row.c write_born) takes no
# insert/insert when the stored item has no "b": it adopts the sync's born
# and merges field by field, so a keeps its notes under its clock, where
# the model _merge (a missing born is the oldest, the later creation wins
# whole) drops them; the fold then ships them to c under b's born.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('review11_fold_noborn');
sub sql { return run_sql($node, $_[0]) }

my $b_user = '00000000-0000-0000-0000-00000000000b';
my $b_node = '00000000-0000-0000-0000-0000000000b0';
sql(q{CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                      collection varchar(64), item varchar(255))});
sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text, notes text NOT NULL)});
# a's item 5 is older than the clocks: no born clock "b"
sql(q{INSERT INTO articles VALUES (5, 'a title', 'a notes')});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'token-b', inbound_user => '$b_user')");
sql("SELECT directus_sync.add_remote('c', '$fake->{url}', '$fake->{token}')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'notes'], key_series => false)});
sql(q{SELECT directus_sync.subscribe('c', 'articles', ARRAY['title', 'notes'], key_series => false)});
sql(q{SELECT directus_sync.pause('b')});
sql(q{SELECT directus_sync.pause('c')});
is(sql(q{SELECT coalesce(directus_sync_meta ? 'b', false) FROM articles}), 'f', "a's item 5 has no born clock");

my $b_born = sql(qq{SELECT left(directus_sync.clock_now(), 17) || '$b_node'});
sql(q{UPDATE articles SET notes = 'a notes, edited'});
my $a_notes_clock = sql(q{SELECT directus_sync_meta->'f'->>'notes' FROM articles});
my $b_title_clock = sql(qq{SELECT left(directus_sync.clock_now(), 17) || '$b_node'});
ok($a_notes_clock gt $b_born, "a's notes edit is later than b's item's birth");
is(sql(q{SELECT coalesce(directus_sync_meta ? 'b', false) FROM articles}), 'f', "a's edit leaves item 5 without a born clock");

# b's item arrives carrying its title only: it is born later, it keeps the key
sql(qq{BEGIN;
UPDATE articles SET title = 'b title',
       directus_sync_meta = jsonb_build_object('s', '$b_node', 'b', '$b_born',
                                               'f', jsonb_build_object('title', '$b_title_clock'))
 WHERE id = 5;
INSERT INTO directus_activity (action, "user", collection, item) VALUES ('update', '$b_user', 'articles', '5');
COMMIT});
is(sql(q{SELECT directus_sync_meta->>'b' FROM articles}), $b_born, "b's item keeps the key (born later)");
is(sql(q{SELECT directus_sync_meta->'f' ? 'notes' FROM articles}), 'f',
	"a's notes keep no clock here: they are the loser's");

# the model: the state born later wins whole, a missing born is the oldest
is(sql(qq{SELECT directus_sync._merge(
    jsonb_build_object('f', jsonb_build_object('title', jsonb_build_object('c', '', 'v', 'a title'),
                                               'notes', jsonb_build_object('c', '$a_notes_clock', 'v', 'a notes, edited'))),
    jsonb_build_object('b', '$b_born', 'f', jsonb_build_object('title', jsonb_build_object('c', '$b_title_clock', 'v', 'b title'))))
  ->'f' ? 'notes'}), 'f', "the model _merge drops the notes of the item with no born clock");

my $mark = last_seq($fake);
sql(q{SELECT directus_sync.resume('c')});
wait_drained($node, 'c');
my @items;
for my $r (@{ fake_requests($fake, $mark, 'articles') })
{
	push @items, grep { ref $_ eq 'HASH' && defined $_->{id} && $_->{id} == 5 }
	  (ref $r->{body} eq 'ARRAY' ? @{ $r->{body} } : ($r->{body} // ()));
}
my @born_b = grep { ref $_->{directus_sync_meta} eq 'HASH' && ($_->{directus_sync_meta}{b} // '') eq $b_born } @items;
ok(@born_b >= 1, "c is sent b's item (born $b_born)") or diag(explain(\@items));
my @merged = grep { exists(($_->{directus_sync_meta}{f} // {})->{notes})
	  && index($a_notes_clock, $_->{directus_sync_meta}{f}{notes}) == 0 } @born_b;
# the request born bB carries no clock of a's (the loser's) notes edit
is(scalar(@merged), 0, "b's item is not sent to c with the clock of a's (the loser's) notes edit")
	or diag(explain(\@merged));

is(server_crash($node), '', 'no crash in the server log');
stop_fake($fake);
$node->stop;
done_testing();
