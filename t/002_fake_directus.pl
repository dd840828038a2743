# The fake Directus (t/fake_directus.py) against the REST contract of
# docs/directus-behaviour.md, plus its control API.
#
# By default the test starts the fake on a free 127.0.0.1 port and stops it
# at the end.  With DIRECTUS_URL and DIRECTUS_TOKEN (an admin's static token)
# set, the contract part runs against that server instead, so the same
# assertions prove the fake faithful to a real Directus; it then creates
# and deletes items (ids DIRECTUS_TEST_ID_BASE + 0..99, default 990000) in
# DIRECTUS_TEST_COLLECTION (default "articles": integer key "id", string
# field "title"), and skips the fake-only subtests. With
# DIRECTUS_QUERY_LIMIT_MAX=N as well (a server started with QUERY_LIMIT_MAX=N)
# it also checks how that maximum cuts answers (ids + 100..249); against the
# fake that subtest runs with the fake's --query-limit-max 100 and 30.
# DIRECTUS_VERSION (the major: 12, the default, 11 or 10) says which
# Directus answers, real or fake (the fake's --directus-version): where
# versions differ (Directus 10's words for 403 and RECORD_NOT_UNIQUE,
# /server/health without a token) the contract expects what that version
# answers. t/020 and t/022 run the contract against every version
# scripts/test.sh runs; a fake-only subtest runs the version checks of the
# other versions against the fake.
#
# Only what docs/directus-behaviour.md states, or what was read in the
# Directus source (see the header of t/fake_directus.py), is asserted in the
# contract part; it passed against Directus 12.4.0, 11.17.4 and 10.13.4.  The fake-only subtests on
# singletons, non-admin tokens and missing read permission follow behaviour
# measured by hand on 12.4.0 (a singleton collection and users with policies
# are more set-up than this test should make on someone's server).
#
# With DIRECTUS_NONADMIN_ONLY=1 as well, DIRECTUS_TOKEN is a non-admin's
# with create, read, update and delete permission on the collection (the
# peer Directus of t/061, which plays no admin): where an admin's answer
# differs (an update or delete of a missing key: 403 for the whole request,
# nothing changed), the non-admin answer is expected, and what only an admin
# may ask (/server/health) is left out.
#
# The test stands alone (no PostgreSQL::Test modules, its own fake start
# rather than DirectusSyncTest's start_fake): t/020 runs it with a plain
# `prove` against a live Directus.
use strict;
use warnings;
use FindBin;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

my $real = defined $ENV{DIRECTUS_URL} && defined $ENV{DIRECTUS_TOKEN};
my $nonadmin_only = $real && $ENV{DIRECTUS_NONADMIN_ONLY};
my $version = $ENV{DIRECTUS_VERSION} // 12;
BAIL_OUT("DIRECTUS_VERSION is a major version (10, 11, 12), not '$version'") unless $version =~ /^1[012]$/;
my ($base_url, $token, $coll, $fake_pid, $fake_out);
my $json = JSON::PP->new->canonical->allow_nonref;

# The ids this test uses, deleted at the start and at the end on a real server.
my $id_base = $ENV{DIRECTUS_TEST_ID_BASE} // 990000;
sub k { return $id_base + $_[0] }
my $last_id = 249;

if ($real)
{
	($base_url = $ENV{DIRECTUS_URL}) =~ s{/+$}{};
	$token = $ENV{DIRECTUS_TOKEN};
	$coll = $ENV{DIRECTUS_TEST_COLLECTION} // 'articles';
	diag("running the contract against $base_url (Directus $version), collection $coll");
}
else
{
	$token = 'fake-token-' . $$;
	$coll = 'articles';
	my $port = free_port();
	my $script = -f 't/fake_directus.py' ? 't/fake_directus.py' : "$FindBin::Bin/fake_directus.py";
	$fake_pid = open($fake_out, '-|', '/usr/bin/python3', $script,
		'--port' => $port, '--token' => $token, '--directus-version' => $version,
		'--collections' => '{"articles":{"pk":"id"},"settings":{"pk":"id","singleton":true}}')
	  or BAIL_OUT("cannot start $script: $!");
	my $line = eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		alarm 15;
		my $l = <$fake_out>;
		alarm 0;
		$l;
	};
	BAIL_OUT('fake directus did not say it listens') unless defined $line && $line =~ /listening on 127\.0\.0\.1:$port/;
	$base_url = "http://127.0.0.1:$port";
}

END
{
	local $?;
	if ($fake_pid)
	{
		kill 'TERM', $fake_pid;
		waitpid($fake_pid, 0);
		# Naming $fake_out here also keeps it alive until now: a lexical no
		# END block uses is freed (and its pipe closed, which waits for the
		# child) before END blocks run.
		close $fake_out;
	}
	cleanup() if $real && $base_url;
}

# A free port in 55400-55499 (the fake binds 127.0.0.1 only).
sub free_port
{
	my $start = 55400 + int(rand(100));
	for my $i (0 .. 99)
	{
		my $port = 55400 + ($start - 55400 + $i) % 100;
		my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
			Proto => 'tcp', Listen => 1, ReuseAddr => 1);
		if ($sock)
		{
			close $sock;
			return $port;
		}
	}
	BAIL_OUT('no free port in 55400-55499');
}

my $http = HTTP::Tiny->new(timeout => 10);

# One request.  $body: a Perl structure (sent as JSON) or a string (sent as
# is).  Options: http => another HTTP::Tiny, token => another token (undef =
# no Authorization header).  Returns HTTP::Tiny's response plus "data" (the
# decoded JSON body, if any).
sub api
{
	my ($method, $path, $body, %opt) = @_;
	my $tok = exists $opt{token} ? $opt{token} : $token;
	my %headers = ('Content-Type' => 'application/json');
	$headers{Authorization} = "Bearer $tok" if defined $tok;
	my %req = (headers => \%headers);
	$req{content} = ref $body ? $json->encode($body) : $body if defined $body;
	my $res = ($opt{http} // $http)->request($method, $base_url . $path, \%req);
	if (($res->{headers}{'content-type'} // '') =~ m{^application/json} && length $res->{content})
	{
		$res->{data} = eval { $json->decode($res->{content}) };
	}
	return $res;
}

# The fake's control API (no auth).
sub ctl
{
	my ($method, $path, $body) = @_;
	my $res = api($method, "/__fake/$path", $body, token => undef);
	die "control $method $path: $res->{status} $res->{content}\n" unless $res->{status} == 200;
	return $res->{data};
}

# Status, and Directus's error shape: {"errors":[{"message","extensions":{"code"}}]}.
sub is_error
{
	my ($res, $status, $code, $name) = @_;
	is($res->{status}, $status, "$name: status $status")
	  or diag("body: $res->{content}");
	like($res->{headers}{'content-type'} // '', qr{^application/json}, "$name: JSON error body");
	my $errors = ref $res->{data} eq 'HASH' ? $res->{data}{errors} : undef;
	ok( ref $errors eq 'ARRAY' && @$errors
		  && !grep({ ref $_ ne 'HASH' || !defined $_->{message} || ref $_->{message}
					|| ref $_->{extensions} ne 'HASH' || !defined $_->{extensions}{code} } @$errors),
		"$name: errors[] of {message, extensions{code}}");
	is(eval { $errors->[0]{extensions}{code} }, $code, "$name: code $code");
	return $errors ? $errors->[0] : undef;
}

# Reads one item back through the API: the item, or undef when Directus
# answers 403 (what a missing item gets).
sub get_item
{
	my ($id) = @_;
	my $res = api('GET', "/items/$coll/$id");
	return $res->{data}{data} if $res->{status} == 200;
	return undef if $res->{status} == 403;
	die "GET /items/$coll/$id: $res->{status} $res->{content}\n";
}

sub ids_of { return [ sort { $a <=> $b } map { $_->{id} } @{ $_[0] } ] }

sub cleanup
{
	my @ids = map { k($_) } 0 .. $last_id;
	# A non-admin may delete only keys that exist.
	@ids = @{ ids_of(api('GET', "/items/$coll?fields=id&limit=-1&filter="
			  . uri_escape($json->encode({ id => { _in => \@ids } })))->{data}{data} // []) }
	  if $nonadmin_only;
	api('DELETE', "/items/$coll", \@ids) if @ids;
}

cleanup() if $real;

subtest 'ping' => sub {
	my $res = api('GET', '/server/ping', undef, token => undef);
	is($res->{status}, 200, 'GET /server/ping answers 200 without a token');
	is($res->{content}, 'pong', '... with "pong"');
};

subtest 'create' => sub {
	my $res = api('POST', "/items/$coll", { id => k(1), title => 'one' });
	is($res->{status}, 200, 'create one object: 200');
	is($res->{data}{data}{id}, k(1), '... {data} is the item read back');
	is($res->{data}{data}{title}, 'one', '... with its fields');

	$res = api('POST', "/items/$coll", [ { id => k(2), title => 'two' }, { id => k(3), title => 'three' } ]);
	is($res->{status}, 200, 'create an array: 200');
	is_deeply(ids_of($res->{data}{data}), [ k(2), k(3) ], '... {data} is the array read back');
	is(get_item(k(3))->{title}, 'three', '... and the items are there');

	$res = api('POST', "/items/$coll?fields=id", { id => k(4), title => 'four' });
	is_deeply($res->{data}{data}, { id => k(4) }, 'the read-back honours fields=');

	$res = api('POST', "/items/$coll", [ { id => k(5), title => 'new' }, { id => k(1), title => 'again' } ]);
	my $err = is_error($res, 400, 'RECORD_NOT_UNIQUE', 'a batch with an existing key');
	like($err->{message} // '', qr/has to be unique/, '... message says the value has to be unique');
	is(get_item(k(5)), undef, '... and nothing of the batch is stored');
	is(get_item(k(1))->{title}, 'one', '... nor the existing item changed');

	$res = api('POST', "/items/$coll", [ { id => k(6), title => 'a' }, { id => k(6), title => 'b' } ]);
	is_error($res, 400, 'RECORD_NOT_UNIQUE', 'a batch repeating a key');
	is(get_item(k(6)), undef, '... stores nothing');

	$res = api('POST', "/items/$coll", '{"id": ' . k(7) . ', "title": ');
	is_error($res, 400, 'INVALID_PAYLOAD', 'invalid JSON');

	# Default MAX_PAYLOAD_SIZE is 1 MB; express.json() refuses more and
	# Directus turns that into INVALID_PAYLOAD (app.ts).
	my $big = $json->encode([ map { { id => k(8), title => 'x' x 1000 } } 1 .. 1100 ]);
	$res = api('POST', "/items/$coll", $big);
	$err = is_error($res, 400, 'INVALID_PAYLOAD', 'a body over 1 MB');
	like($err->{message} // '', qr/too large/, '... "request entity too large"');
	is(get_item(k(8)), undef, '... and nothing is stored');
	is(api('GET', '/server/ping')->{status}, 200, '... the connection still works');
};

subtest 'update' => sub {
	my $res = api('PATCH', "/items/$coll/" . k(1), { title => 'uno' });
	is($res->{status}, 200, 'update by id: 200');
	is($res->{data}{data}{title}, 'uno', '... {data} is the updated item');
	is(get_item(k(1))->{title}, 'uno', '... and it is stored');

	$res = api('PATCH', "/items/$coll", [ { id => k(2), title => 'dos' }, { id => k(3), title => 'tres' } ]);
	is($res->{status}, 200, 'batch update (array of items with their key): 200');
	is_deeply(ids_of($res->{data}{data}), [ k(2), k(3) ], '... {data} is the updated items');
	is(get_item(k(2))->{title}, 'dos', '... first one stored');
	is(get_item(k(3))->{title}, 'tres', '... second one stored');

	$res = api('PATCH', "/items/$coll/" . k(9), { title => 'ghost' });
	if ($nonadmin_only)
	{
		is_error($res, 403, 'FORBIDDEN', 'update of a missing id as non-admin');
	}
	else
	{
		is($res->{status}, 204, 'update of a missing id as admin: 204');
		is($res->{content} // '', '', '... with no body');
	}
	is(get_item(k(9)), undef, '... and nothing is created');

	$res = api('PATCH', "/items/$coll", [ { id => k(2), title => 'dos!' }, { id => k(9), title => 'ghost' } ]);
	if ($nonadmin_only)
	{
		is_error($res, 403, 'FORBIDDEN', 'batch update with a missing key as non-admin');
		is(get_item(k(2))->{title}, 'dos', '... the item that exists is not updated either');
		api('PATCH', "/items/$coll", [ { id => k(2), title => 'dos!' } ]);
	}
	else
	{
		is($res->{status}, 200, 'batch update with a missing key as admin: 200');
		is_deeply(ids_of($res->{data}{data} // []), [ k(2) ], '... {data} holds only the item that exists');
		is(get_item(k(2))->{title}, 'dos!', '... which is updated');
	}
	is(get_item(k(9)), undef, '... and the missing one is not created');

	$res = api('PATCH', "/items/$coll", [ { title => 'no key' } ]);
	is_error($res, 400, 'INVALID_PAYLOAD', 'batch update of an item without its key');

	$res = api('PATCH', "/items/$coll?fields=id&limit=-1", [ { id => k(2), title => 'dos!' }, { id => k(3), title => 'tres' } ]);
	is($res->{status}, 200, 'batch update with ?fields=id&limit=-1: 200');
	is_deeply(ids_of($res->{data}{data} // []), [ k(2), k(3) ], '... the read-back lists every key');
};

subtest 'read' => sub {
	my $res = api('GET', "/items/$coll?filter[id][_in]=" . k(2) . ',' . k(3));
	is($res->{status}, 200, 'GET with filter[id][_in]=a,b: 200');
	is_deeply(ids_of($res->{data}{data}), [ k(2), k(3) ], '... those two items');

	my $filter = $json->encode({ id => { _in => [ k(1), k(3) ] } });
	$res = api('GET', "/items/$coll?filter=" . uri_escape($filter));
	is_deeply(ids_of($res->{data}{data} // []), [ k(1), k(3) ], 'GET with filter={"id":{"_in":[...]}}');

	$res = api('GET', "/items/$coll?filter[id][_eq]=" . k(2) . '&fields=id,title');
	is_deeply($res->{data}{data}, [ { id => k(2), title => 'dos!' } ], 'filter[id][_eq] and fields=');

	$res = api('GET', "/items/$coll/" . k(3));
	is($res->{data}{data}{title}, 'tres', 'GET /items/:c/:id: {data} is the item');
	is_error(api('GET', "/items/$coll/" . k(9)), 403, 'FORBIDDEN', 'GET of a missing item');

	$res = api('GET', "/items/$coll/" . k(3) . "?access_token=$token", undef, token => undef);
	is($res->{status}, 200, 'the token may come as access_token=');

	$filter = $json->encode({ id => { _in => [ k(2), k(3), k(9) ] } });
	$res = api('GET', "/items/$coll?fields=id&limit=-1&meta=filter_count&filter=" . uri_escape($filter));
	is($res->{status}, 200, 'GET with meta=filter_count: 200');
	is_deeply(ids_of($res->{data}{data} // []), [ k(2), k(3) ], '... the items');
	is_deeply($res->{data}{meta}, { filter_count => 2 }, '... and {"meta":{"filter_count":2}}: the items the filter matches');
	my $err = is_error(api('GET', "/items/$coll?meta=bogus"), 400, 'INVALID_QUERY', 'meta=bogus');
	is($err->{message}, 'Invalid query. "meta[0]" must be one of [total_count, filter_count].', '... message');
	$err = is_error(api('GET', "/items/$coll?limit=-2"), 400, 'INVALID_QUERY', 'limit=-2');
	is($err->{message}, 'Invalid query. "limit" must be greater than or equal to -1.', '... message');
};

# With QUERY_LIMIT_MAX = $max: how answers are cut. 150 items (ids
# 100..249) against a maximum under 150.
sub check_query_limit_max
{
	my ($max) = @_;
	my $cut = $max < 100 ? $max : 100;    # min(QUERY_LIMIT_DEFAULT, QUERY_LIMIT_MAX)
	my @ids = map { k($_) } 100 .. 249;
	my $min = sub { $_[0] < $_[1] ? $_[0] : $_[1] };
	my $filter = uri_escape($json->encode({ id => { _in => [ @ids, k(99) ] } }));
	api('DELETE', "/items/$coll", \@ids);

	my $res = api('POST', "/items/$coll?fields=id", [ map { { id => $_, title => 'new' } } @ids ]);
	is($res->{status}, 200, "max $max: create of 150 items: 200");
	is(scalar @{ $res->{data}{data} // [] }, $min->(150, $cut), "... the read-back lists min(100, $max)");
	$res = api('GET', "/items/$coll?fields=id&limit=-1&meta=filter_count&filter=$filter");
	is(scalar @{ $res->{data}{data} // [] }, $min->(150, $max), "max $max: GET limit=-1 lists at most $max");
	is_deeply($res->{data}{meta}, { filter_count => 150 }, '... while meta.filter_count counts every match (150)');
	$res = api('GET', "/items/$coll?fields=id&filter=$filter");
	is(scalar @{ $res->{data}{data} // [] }, $min->(150, $cut), "max $max: GET without limit lists min(100, $max)");

	$res = api('PATCH', "/items/$coll?fields=id", [ map { { id => $_, title => 'changed' } } @ids ]);
	is($res->{status}, 200, "max $max: update of 150 items: 200");
	is(scalar @{ $res->{data}{data} // [] }, $min->(150, $cut), "... the read-back lists min(100, $max)");
	is_deeply([ grep { $_ > k(100) + $cut - 1 } @{ ids_of($res->{data}{data} // []) } ], [],
		'... of the lowest keys');
	is(get_item(k(249))->{title}, 'changed', '... and the items beyond are updated all the same');
	$res = api('PATCH', "/items/$coll?fields=id&limit=-1", [ map { { id => $_, title => 'again' } } @ids ]);
	is(scalar @{ $res->{data}{data} // [] }, $min->(150, $max), "max $max: with limit=-1 the read-back lists $max");

	my $err = is_error(api('GET', "/items/$coll?limit=" . ($max + 1)), 400, 'INVALID_QUERY', "max $max: GET limit=" . ($max + 1));
	is($err->{message}, "Invalid query. \"limit\" must be less than or equal to $max.", '... message');
	is($err->{extensions}{reason}, "\"limit\" must be less than or equal to $max", '... reason');
	is_error(api('PATCH', "/items/$coll?fields=id&limit=" . ($max + 1), [ { id => k(100), title => 'refused' } ]),
		400, 'INVALID_QUERY', "max $max: PATCH limit=" . ($max + 1));
	is(get_item(k(100))->{title}, 'again', '... and nothing is written');
	api('DELETE', "/items/$coll", \@ids);
}

subtest 'QUERY_LIMIT_MAX' => sub {
	if ($real)
	{
		plan skip_all => 'DIRECTUS_QUERY_LIMIT_MAX is not set' unless $ENV{DIRECTUS_QUERY_LIMIT_MAX};
		check_query_limit_max($ENV{DIRECTUS_QUERY_LIMIT_MAX});
		return;
	}
	for my $max (100, 30)
	{
		ctl('POST', 'mode', { query_limit_max => $max });
		check_query_limit_max($max);
	}
	ctl('POST', 'mode', { query_limit_max => undef });
};

subtest 'delete' => sub {
	my $res = api('DELETE', "/items/$coll/" . k(1));
	is($res->{status}, 204, 'delete by id: 204');
	is(get_item(k(1)), undef, '... and the item is gone');

	$res = api('DELETE', "/items/$coll", [ k(2), k(3) ]);
	is($res->{status}, 204, 'delete a JSON array of keys: 204');
	is(get_item(k(2)), undef, '... first one gone');
	is(get_item(k(3)), undef, '... second one gone');

	if ($nonadmin_only)
	{
		is_error(api('DELETE', "/items/$coll/" . k(9)), 403, 'FORBIDDEN', 'delete of a missing item (non-admin)');
		is_error(api('DELETE', "/items/$coll", [ k(4), k(9) ]), 403, 'FORBIDDEN',
			'delete of an array with a missing key (non-admin)');
		ok(defined get_item(k(4)), '... the existing one stays');
		api('DELETE', "/items/$coll", [ k(4) ]);
	}
	else
	{
		is(api('DELETE', "/items/$coll/" . k(9))->{status}, 204, 'delete of a missing item (admin): 204');
		is(api('DELETE', "/items/$coll", [ k(4), k(9) ])->{status}, 204, 'delete of an array with a missing key (admin): 204');
	}
	is(get_item(k(4)), undef, '... the existing one is gone');

	api('POST', "/items/$coll", { id => k(10), title => 'ten' });
	is(api('DELETE', "/items/$coll", { keys => [ k(10) ] })->{status}, 204, 'delete {"keys":[...]}: 204');
	is(get_item(k(10)), undef, '... and it is gone');
};

# What differs between Directus versions, as version $v answers.
sub version_checks
{
	my ($v) = @_;
	my $nope = "no_such_collection_$$";
	my $err = is_error(api('GET', "/items/$nope"), 403, 'FORBIDDEN', "Directus $v: GET of an unknown collection");
	if ($v >= 11)
	{
		like($err->{message} // '', qr/collection "$nope"/, '... message names the collection');
		is($err->{extensions}{reason}, $err->{message}, '... and so does the reason');
	}
	else
	{
		is($err->{message}, "You don't have permission to access this.", '... the generic message');
		is_deeply([ sort keys %{ $err->{extensions} } ], ['code'], '... and no reason');
	}
	api('DELETE', "/items/$coll/" . k(11));
	api('POST', "/items/$coll", { id => k(11), title => 'eleven' });
	$err = is_error(api('POST', "/items/$coll", { id => k(11) }), 400, 'RECORD_NOT_UNIQUE', "Directus $v: an existing key");
	my ($f, $c, $n) = ('id', $coll, k(11));
	is($err->{message}, $v >= 11 ? qq{Value "$n" for field "$f" in collection "$c" has to be unique.}
		: qq{Value for field "$f" in collection "$c" has to be unique.}, '... message');
	is(json_canon_local({ map { $_ => $err->{extensions}{$_} } grep { $_ ne 'code' } keys %{ $err->{extensions} } }),
		json_canon_local({ collection => $c, field => $f, $v >= 11 ? (value => $n) : () }),
		'... extensions ' . ($v >= 11 ? 'collection, field and value' : 'collection and field, no value'));
	api('DELETE', "/items/$coll/" . k(11));
	# (application/health+json, which api() does not decode)
	my $health = sub { my $r = api('GET', '/server/health', undef, @_); $r->{health} = eval { $json->decode($r->{content}) }; $r };
	my $res = $health->(token => undef);
	if ($v >= 12)
	{
		is_error($res, 403, 'FORBIDDEN', "Directus $v: GET /server/health without a token");
	}
	else
	{
		is($res->{status}, 200, "Directus $v: GET /server/health without a token: 200");
		like($res->{headers}{'content-type'} // '', qr{^application/health\+json}, '... application/health+json');
		is($res->{health}{status}, 'ok', '... {"status":"ok"}');
	}
	return if $nonadmin_only;
	$res = $health->();
	is($res->{status} . ' ' . ($res->{health}{status} // ''), '200 ok', "Directus $v: GET /server/health as admin: 200 ok");
}
sub json_canon_local { return $json->encode($_[0]) }

subtest "what Directus $version answers its own way" => sub { version_checks($version) };

subtest 'errors' => sub {
	my $nope = "no_such_collection_$$";
	my $err = is_error(api('GET', "/items/$nope"), 403, 'FORBIDDEN', 'GET of an unknown collection');
	is_error(api('POST', "/items/$nope", { id => 1 }), 403, 'FORBIDDEN', 'POST to an unknown collection');
	$err = is_error(api('GET', '/no/such/route'), 404, 'ROUTE_NOT_FOUND', 'an unknown route');
	like($err->{message} // '', qr{/no/such/route}, '... message names the route');
	$err = is_error(api('GET', "/items/$coll", undef, token => 'wrong-token'), 401, 'INVALID_CREDENTIALS', 'a bad token');
	is($err->{message}, 'Invalid user credentials.', '... "Invalid user credentials."');
};

# ---------------------------------------------------------------- fake only

sub fake_only { plan skip_all => 'control API: fake only' if $real }

subtest 'the other versions' => sub {
	fake_only();
	for my $v (grep { $_ != $version } 10, 11, 12)
	{
		is(ctl('POST', 'mode', { directus_version => $v })->{directus_version}, $v, "the fake answers as Directus $v");
		version_checks($v);
	}
	ctl('POST', 'mode', { directus_version => $version });
};

subtest 'no token is the public role' => sub {
	is_error(api('GET', "/items/$coll", undef, token => undef), 403, 'FORBIDDEN', 'GET without a token');
	is_error(api('GET', '/nope', undef, token => undef), 404, 'ROUTE_NOT_FOUND', 'unknown route without a token');
};

subtest 'control: seed, items, collections' => sub {
	fake_only();
	ctl('POST', 'reset');
	ctl('POST', 'collections', { name => 'numbers', pk => 'n' });
	ctl('POST', 'seed/numbers', [ { n => 10 }, { n => 9 }, { n => '100', x => 1 } ]);
	is_deeply(ctl('GET', 'items/numbers')->{data}, [ { n => 9 }, { n => 10 }, { n => '100', x => 1 } ],
		'seeded items come back in numeric key order, with their JSON types');
	my $res = api('PATCH', '/items/numbers/100', { x => 2 });
	is($res->{data}{data}{x}, 2, '1 and "1" are the same key');
	is_error(api('POST', '/items/numbers', { n => '9' }), 400, 'RECORD_NOT_UNIQUE', 'also for uniqueness');
	is(ctl('GET', 'stats')->{requests}, 2, 'control and seed requests are not counted');
};

subtest 'failure rules' => sub {
	fake_only();
	ctl('POST', 'reset');
	ctl('POST', 'fail', { status => 503, code => 'SERVICE_UNAVAILABLE', message => 'Under pressure',
		count => 2, retry_after => 7 });
	for my $n (1, 2)
	{
		my $res = api('POST', "/items/$coll", { id => 20 });
		my $err = is_error($res, 503, 'SERVICE_UNAVAILABLE', "failing request $n");
		is($err->{message}, 'Under pressure', "... message $n");
		is($res->{headers}{'retry-after'}, 7, "... Retry-After $n");
	}
	is_deeply(ctl('GET', "items/$coll")->{data}, [], 'failed requests change nothing');
	is(api('POST', "/items/$coll", { id => 20 })->{status}, 200, 'after count requests: served again');

	ctl('POST', 'fail', { status => 429, code => 'REQUESTS_EXCEEDED', count => -1,
		method => 'PATCH', collection => $coll, key => 21 });
	api('POST', "/items/$coll", [ { id => 21 }, { id => 22 } ]);
	is(api('PATCH', "/items/$coll", [ { id => 22, t => 1 } ])->{status}, 200, 'a rule for one key: other keys pass');
	is(api('GET', "/items/$coll/21")->{status}, 200, '... other methods pass');
	is_error(api('PATCH', "/items/$coll", [ { id => 22 }, { id => 21, t => 1 } ]), 429, 'REQUESTS_EXCEEDED',
		'a batch carrying the key fails');
	is_error(api('PATCH', "/items/$coll/21", { t => 1 }), 429, 'REQUESTS_EXCEEDED', 'so does the key in the path, again');
	ctl('DELETE', 'fail');
	is(api('PATCH', "/items/$coll/21", { t => 1 })->{status}, 200, 'DELETE /__fake/fail clears the rules');
};

subtest 'stall' => sub {
	fake_only();
	ctl('POST', 'reset');
	# A 3 s stall against a 0.5 s client: margins a loaded machine keeps.
	ctl('POST', 'stall', { seconds => 3, count => 1 });
	my $impatient = HTTP::Tiny->new(timeout => 0.5);
	my $t0 = time;
	my $res = api('POST', "/items/$coll", { id => 30 }, http => $impatient);
	is($res->{status}, 599, 'a client with a 0.5 s timeout gives up on a stalled request');
	cmp_ok(time - $t0, '<', 2.5, '... before the stall ends');
	is(ctl('GET', 'stats')->{stalled}, 1, '... which the stall still holds (stats: stalled)');
	is(api('GET', "/items/$coll/31")->{status}, 403, 'the next request is not stalled');
	my $applied;
	for (1 .. 100)
	{
		$applied = ctl('GET', "items/$coll")->{data};
		last if @$applied;
		sleep 0.1;
	}
	is_deeply($applied, [ { id => 30 } ], 'the stalled request is still applied in the end');
	is(ctl('GET', 'stats')->{stalled}, 0, '... and no longer held');
};

subtest 'request log and keep-alive' => sub {
	fake_only();
	ctl('POST', 'reset');
	my ($h1, $h2) = (HTTP::Tiny->new, HTTP::Tiny->new);
	api('POST', "/items/$coll?fields=id", [ { id => 40 }, { id => 41 } ], http => $h1);
	api('DELETE', "/items/$coll/40", undef, http => $h1);
	api('GET', '/server/ping', undef, http => $h2);
	my $log = ctl('GET', 'requests')->{data};
	is(scalar @$log, 3, 'three requests logged, control requests not');
	is($log->[0]{conn}, $log->[1]{conn}, 'two requests of one HTTP::Tiny share a connection');
	isnt($log->[0]{conn}, $log->[2]{conn}, 'another client has another');
	is_deeply([ map { "$_->{method} $_->{path} $_->{status} $_->{items}" } @$log ],
		[ "POST /items/$coll 200 2", "DELETE /items/$coll/40 204 1", 'GET /server/ping 200 0' ],
		'method, path, status and item count');
	is_deeply($log->[0]{body}, [ { id => 40 }, { id => 41 } ], 'body as parsed JSON');
	is_deeply($log->[0]{query}, { fields => 'id' }, 'query as a dict');
	is($log->[0]{bytes}, length('[{"id":40},{"id":41}]'), 'bytes of the body');
	ok($log->[0]{seq} < $log->[1]{seq} && $log->[0]{ts} <= $log->[1]{ts}, 'seq and ts grow');
	my $later = ctl('GET', "requests?since=$log->[1]{seq}")->{data};
	is(scalar @$later, 1, '?since=SEQ gives only later entries');
	is_deeply(ctl('GET', 'stats'), { requests => 3, connections => 2, items_received => 3, stalled => 0 }, 'stats');
	ctl('DELETE', 'requests');
	is_deeply(ctl('GET', 'requests')->{data}, [], 'DELETE /__fake/requests clears the log');
};

# Against real Directus: DIRECTUS_NONADMIN_TOKEN (a user that may create,
# read, update and delete the collection), DIRECTUS_NOREAD_TOKEN (one that
# may create and update it, not read it); the fake plays both by its modes.
subtest 'modes: non-admin, no read-back' => sub {
	my ($nonadmin, $noread) = $real ? @ENV{qw(DIRECTUS_NONADMIN_TOKEN DIRECTUS_NOREAD_TOKEN)} : ($token, $token);
	plan skip_all => 'DIRECTUS_NONADMIN_TOKEN and DIRECTUS_NOREAD_TOKEN are not set' unless $nonadmin && $noread;
	ctl('POST', 'reset') unless $real;
	api('POST', "/items/$coll", { id => k(50), title => 'fifty' });
	ctl('POST', 'mode', { admin => JSON::PP::false }) unless $real;
	my %as = (token => $nonadmin);
	is_error(api('PATCH', "/items/$coll/" . k(59), { title => 'x' }, %as), 403, 'FORBIDDEN',
		'non-admin: update of a missing id');
	is_error(api('PATCH', "/items/$coll", [ { id => k(50), title => 'changed' }, { id => k(59) } ], %as), 403,
		'FORBIDDEN', 'non-admin: batch update with a missing key');
	is_error(api('DELETE', "/items/$coll/" . k(59), undef, %as), 403, 'FORBIDDEN', 'non-admin: delete of a missing id');
	is_error(api('DELETE', "/items/$coll", [ k(50), k(59) ], %as), 403, 'FORBIDDEN',
		'non-admin: delete of an array with a missing key');
	is_deeply([ (get_item(k(50)) // {})->{title}, get_item(k(59)) ], [ 'fifty', undef ],
		'... none of which changed anything');
	is(api('PATCH', "/items/$coll/" . k(50), { title => 'ok' }, %as)->{status}, 200,
		'non-admin: update of an existing id works');

	ctl('POST', 'mode', { admin => JSON::PP::true, readback => JSON::PP::false }) unless $real;
	%as = (token => $noread);
	my $res = api('POST', "/items/$coll", { id => k(51) }, %as);
	is($res->{status}, 204, 'no read-back: create answers 204');
	is($res->{content} // '', '', '... with no body');
	is(api('PATCH', "/items/$coll/" . k(51), { title => 'x' }, %as)->{status}, 204, 'no read-back: update by id 204');
	is(api('PATCH', "/items/$coll", [ { id => k(51), title => 'y' } ], %as)->{status}, 204,
		'no read-back: batch update 204');
	ctl('POST', 'mode', { readback => JSON::PP::true }) unless $real;
	is((get_item(k(51)) // {})->{title}, 'y', '... and the writes are made');
};

# Against real Directus: DIRECTUS_TEST_SINGLETON, an empty singleton
# collection with the string fields site and color.
subtest 'singleton' => sub {
	my $single = $real ? $ENV{DIRECTUS_TEST_SINGLETON} : 'settings';
	plan skip_all => 'DIRECTUS_TEST_SINGLETON is not set' unless $single;
	ctl('POST', 'reset') unless $real;
	my $res = api('GET', "/items/$single");
	is($res->{status}, 200, 'GET of an empty singleton: 200');
	ok(ref $res->{data}{data} eq 'HASH' && exists $res->{data}{data}{id}
		  && !grep({ defined } values %{ $res->{data}{data} }),
		'... {"data": {"id": null, ...}} (the fields\' defaults)') or diag($res->{content});
	$res = api('PATCH', "/items/$single", { site => 'A' });
	is($res->{status}, 200, 'PATCH without id creates the single item');
	is($res->{data}{data}{site}, 'A', '... and reads it back');
	my $id = $res->{data}{data}{id};
	$res = api('PATCH', "/items/$single", { color => 'red' });
	is_deeply([ @{ $res->{data}{data} }{qw(id site color)} ], [ $id, 'A', 'red' ],
		'a second PATCH merges into it: still one item');
	is(api('GET', "/items/$single")->{data}{data}{color}, 'red', 'GET gives the item');
	is_error(api('POST', "/items/$single", { site => 'B' }), 404, 'ROUTE_NOT_FOUND', 'POST to a singleton');
};

subtest 'down, then up again with the data kept' => sub {
	fake_only();
	ctl('POST', 'reset');
	api('POST', "/items/$coll", { id => 60 });
	my $keepalive = HTTP::Tiny->new(timeout => 5);
	is(api('GET', "/items/$coll/60", undef, http => $keepalive)->{status}, 200, 'a keep-alive client is connected');
	my $t0 = time;
	is(ctl('POST', 'down', { seconds => 1.5 })->{ok}, JSON::PP::true, 'the down request is answered');
	my $res = api('GET', '/server/ping', undef, http => HTTP::Tiny->new(timeout => 5));
	is($res->{status}, 599, 'a new connection fails');
	like($res->{content}, qr/refused/i, '... refused');
	$res = api('GET', "/items/$coll/60", undef, http => $keepalive);
	is($res->{status}, 599, 'the open keep-alive connection was dropped too');
	my $up;
	while (time - $t0 < 15)
	{
		$res = api('GET', '/server/ping', undef, http => HTTP::Tiny->new(timeout => 2));
		if ($res->{status} == 200) { $up = time - $t0; last }
		sleep 0.1;
	}
	ok(defined $up, 'the server comes back');
	cmp_ok($up // 0, '>=', 1.4, '... after the time asked for');
	is(api('GET', "/items/$coll/60", undef, http => $keepalive)->{status}, 200, '... with the data kept');
};

sub uri_escape
{
	my ($s) = @_;
	$s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
	return $s;
}

done_testing();
