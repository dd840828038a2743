/*-------------------------------------------------------------------------
 *
 * http.c
 *	  HTTP transport of the worker: libcurl's multi interface.
 *
 * One multi handle for the worker's life: requests to different remotes run
 * in parallel, and libcurl's connection cache keeps connections alive
 * between requests to the same remote. Only http and https are allowed,
 * redirects are not followed (a redirect would carry the token elsewhere),
 * TLS is verified unless the remote says otherwise. The token goes into one
 * header and nowhere else: libcurl's verbose output stays off.
 *
 * The worker sleeps until something happens: libcurl tells which sockets
 * it waits on and how long (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION),
 * and http_wait waits on those sockets, the latch and postmaster death in
 * one WaitEventSet, rebuilt only when the set of sockets changes.
 *
 * libcurl's callbacks must not throw (a longjmp through libcurl leaves it
 * broken), so what they keep (the answer's buffer, the socket list) is
 * malloc'd, never palloc'd.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "http.h"

/*
 * Most of an answer kept; the rest of a larger one is dropped. We read only
 * statuses, keys and error bodies: keys of a 10,000-item batch fit.
 */
#define MAX_RESPONSE_BYTES (4 * 1024 * 1024)
#define FIRST_RESPONSE_BYTES 4096

static CURLM *multi = NULL;
static int	running = 0;

/* A socket libcurl wants watched, with CURL_POLL_IN, _OUT or _INOUT. */
typedef struct WatchedSocket
{
	curl_socket_t fd;
	int			what;
} WatchedSocket;

static WatchedSocket *sockets = NULL;	/* malloc'd */
static int	nsockets = 0;
static int	maxsockets = 0;
static bool sockets_changed = true;
static TimestampTz curl_deadline = 0;	/* when libcurl wants a timeout call; 0: never */

/* Kept while the sockets stay the same. */
static WaitEventSet *wait_set = NULL;

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp);
static int on_timer(CURLM *multi, long timeout_ms, void *userp);

void
http_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl")));
	multi = curl_multi_init();
	if (multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not create a libcurl multi handle")));
	/* a few connections per remote at most; we send one request at a time */
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 64L);
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
}

/* ----------------------------------------------------------------
 * What libcurl waits for
 * ---------------------------------------------------------------- */

static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	int			i;

	(void) easy;
	(void) userp;
	(void) socketp;
	for (i = 0; i < nsockets && sockets[i].fd != fd; i++)
		;
	if (what == CURL_POLL_REMOVE)
	{
		if (i < nsockets)
			sockets[i] = sockets[--nsockets];
	}
	else if (i < nsockets)
		sockets[i].what = what;
	else
	{
		if (nsockets == maxsockets)
		{
			int			grown_max = Max(16, maxsockets * 2);
			WatchedSocket *grown = realloc(sockets, sizeof(WatchedSocket) * grown_max);

			if (grown == NULL)
				return -1;		/* libcurl fails the transfers of this socket */
			sockets = grown;
			maxsockets = grown_max;
		}
		sockets[nsockets].fd = fd;
		sockets[nsockets].what = what;
		nsockets++;
	}
	sockets_changed = true;
	return 0;
}

static int
on_timer(CURLM *m, long timeout_ms, void *userp)
{
	(void) m;
	(void) userp;
	curl_deadline = timeout_ms < 0 ? 0
		: TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	return 0;
}

static int
wait_events_of(int what)
{
	return (what & CURL_POLL_IN ? WL_SOCKET_READABLE : 0) |
		(what & CURL_POLL_OUT ? WL_SOCKET_WRITEABLE : 0);
}

/* The latch, postmaster death, and libcurl's sockets. */
static WaitEventSet *
current_wait_set(void)
{
	if (wait_set != NULL && !sockets_changed)
		return wait_set;
	if (wait_set != NULL)
		FreeWaitEventSet(wait_set);
#if PG_VERSION_NUM >= 170000
	wait_set = CreateWaitEventSet(NULL, nsockets + 2);
#else
	wait_set = CreateWaitEventSet(TopMemoryContext, nsockets + 2);
#endif
	AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (int i = 0; i < nsockets; i++)
		if (wait_events_of(sockets[i].what) != 0)
			AddWaitEventToSet(wait_set, wait_events_of(sockets[i].what), sockets[i].fd, NULL, NULL);
	sockets_changed = false;
	return wait_set;
}

static void
drive(curl_socket_t fd, int flags)
{
	int			still_running;

	if (curl_multi_socket_action(multi, fd, flags, &still_running) != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("libcurl multi interface failed")));
}

/*
 * Sleeps until a socket is ready, libcurl's timer or ours runs out, or the
 * latch is set (left set, for the caller to see), and lets libcurl work.
 * Returns whether the latch is set.
 */
static bool
wait_and_drive(TimestampTz deadline)
{
	WaitEvent	events[16];
	TimestampTz until = deadline;
	long		wait_ms;
	int			n;
	bool		latch_set = false;

	if (curl_deadline != 0 && curl_deadline < until)
		until = curl_deadline;
	wait_ms = Max(TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until), 0);
	n = WaitEventSetWait(current_wait_set(), wait_ms, events, lengthof(events), PG_WAIT_EXTENSION);
	for (int i = 0; i < n; i++)
	{
		if (events[i].events & WL_LATCH_SET)
			latch_set = true;
		else if (events[i].events & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
			drive(events[i].fd, (events[i].events & WL_SOCKET_READABLE ? CURL_CSELECT_IN : 0) |
				  (events[i].events & WL_SOCKET_WRITEABLE ? CURL_CSELECT_OUT : 0));
	}
	if (curl_deadline != 0 && GetCurrentTimestamp() >= curl_deadline)
	{
		curl_deadline = 0;
		drive(CURL_SOCKET_TIMEOUT, 0);
	}
	CHECK_FOR_INTERRUPTS();
	return latch_set;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	HttpRequest *req = userdata;
	size_t		n = size * nmemb;
	StringInfo	buf = &req->response;

	/*
	 * malloc, not palloc: an allocation failure must not throw through
	 * libcurl. What does not fit under the cap is dropped.
	 */
	if ((size_t) buf->len + n + 1 > (size_t) buf->maxlen && (size_t) buf->len + n + 1 <= MAX_RESPONSE_BYTES)
	{
		size_t		cap = Max((size_t) buf->maxlen * 2, (size_t) buf->len + n + 1);
		char	   *grown = realloc(buf->data, Min(cap, MAX_RESPONSE_BYTES));

		if (grown != NULL)
		{
			buf->data = grown;
			buf->maxlen = (int) Min(cap, MAX_RESPONSE_BYTES);
		}
	}
	if ((size_t) buf->len + n + 1 <= (size_t) buf->maxlen)
	{
		memcpy(buf->data + buf->len, data, n);
		buf->len += n;
		buf->data[buf->len] = '\0';
	}
	return n;
}

/* A Date further from our clock than this (10 years) is ignored. */
#define MAX_DATE_OFFSET_S (10 * 366 * SECS_PER_DAY)

/*
 * The Date header: how far the remote's clock is from ours (positive: ahead).
 * Date has whole seconds: its middle, half a second on, is the best guess.
 */
static void
note_date(HttpRequest *req, const char *data, size_t n)
{
	static const char name[] = "date:";
	char		value[64];
	size_t		len;
	time_t		remote;
	TimestampTz now_ts;
	int64		now;

	if (n <= sizeof(name) || pg_strncasecmp(data, name, sizeof(name) - 1) != 0)
		return;
	len = Min(n - (sizeof(name) - 1), sizeof(value) - 1);
	memcpy(value, data + sizeof(name) - 1, len);
	value[len] = '\0';
	remote = curl_getdate(value, NULL);
	now_ts = GetCurrentTimestamp();
	now = now_ts / USECS_PER_SEC + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	/* a date nowhere near ours says nothing about a clock (and would overflow) */
	if (remote < 0 || (int64) remote > now + MAX_DATE_OFFSET_S || (int64) remote < now - MAX_DATE_OFFSET_S)
		return;
	req->has_date = true;
	req->clock_offset_ms = ((int64) remote - now) * 1000 + 500
		- (now_ts / 1000) % 1000;
}

/*
 * The Age header (RFC 9111): a cache's answer was made that many seconds
 * before the Date it carries says (a proxy or CDN in front of Directus).
 */
static void
note_age(HttpRequest *req, const char *data, size_t n)
{
	static const char name[] = "age:";
	char		value[32];
	size_t		len;
	char	   *end;
	long		seconds;

	if (n <= sizeof(name) || pg_strncasecmp(data, name, sizeof(name) - 1) != 0)
		return;
	len = Min(n - (sizeof(name) - 1), sizeof(value) - 1);
	memcpy(value, data + sizeof(name) - 1, len);
	value[len] = '\0';
	seconds = strtol(value, &end, 10);
	if (end != value && seconds >= 0 && seconds < MAX_DATE_OFFSET_S)
		req->age_ms = (int64) seconds * 1000;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	HttpRequest *req = userdata;
	size_t		n = size * nmemb;
	static const char name[] = "retry-after:";

	note_date(req, data, n);
	note_age(req, data, n);
	if (n > sizeof(name) && pg_strncasecmp(data, name, sizeof(name) - 1) == 0)
	{
		char		value[32];
		size_t		len = Min(n - (sizeof(name) - 1), sizeof(value) - 1);
		char	   *end;
		long		seconds;

		memcpy(value, data + sizeof(name) - 1, len);
		value[len] = '\0';
		seconds = strtol(value, &end, 10);
		/* the HTTP-date form is rare from Directus; backoff covers it */
		if (end != value && seconds >= 0 && seconds < 24 * 3600)
			req->retry_after_ms = (int) (seconds * 1000);
	}
	return n;
}

/*
 * Starts a request. The body, if any, is sent as JSON; the answer and its
 * status are in req once http_wait has returned it.
 */
void
http_start(HttpRequest *req, const HttpOptions *options)
{
	CURL	   *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	char	   *auth;

	if (curl == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	req->response.data = malloc(FIRST_RESPONSE_BYTES);
	if (req->response.data == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	req->response.data[0] = '\0';
	req->response.len = 0;
	req->response.maxlen = FIRST_RESPONSE_BYTES;
	req->response.cursor = 0;
	req->status = 0;
	req->transport_error[0] = '\0';
	req->timed_out = false;
	req->never_sent = false;
	req->retry_after_ms = -1;
	req->has_date = false;
	req->age_ms = 0;

	auth = psprintf("Authorization: Bearer %s", options->token);
	headers = curl_slist_append(headers, auth);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, "Expect:");	/* no 100-continue round trip */
	explicit_bzero(auth, strlen(auth));
	pfree(auth);

	curl_easy_setopt(curl, CURLOPT_URL, req->url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (req->body.data != NULL)
	{
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body.data);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) req->body.len);
	}
	else if (strcmp(req->method, "GET") == 0)
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	/* "" turns off the proxies the postmaster's environment (http_proxy, ...) names */
	curl_easy_setopt(curl, CURLOPT_PROXY, options->proxy ? options->proxy : "");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options->verify_tls ? 1L : 0L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options->verify_tls ? 2L : 0L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long) options->connect_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) options->request_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "directus_sync/" DIRECTUS_SYNC_VERSION);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(curl, CURLOPT_PRIVATE, req);

	req->handle = curl;
	req->headers = headers;
	if (curl_multi_add_handle(multi, curl) != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not start an HTTP request")));
	running++;
	req->in_flight = true;
}

/* A request libcurl has finished, or NULL. */
static HttpRequest *
take_finished(void)
{
	CURLMsg    *msg;
	int			queued;

	while ((msg = curl_multi_info_read(multi, &queued)) != NULL)
	{
		HttpRequest *req;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &req->status);
		else
		{
			strlcpy(req->transport_error, curl_easy_strerror(msg->data.result),
					sizeof(req->transport_error));
			req->timed_out = msg->data.result == CURLE_OPERATION_TIMEDOUT;
			req->never_sent = msg->data.result == CURLE_COULDNT_RESOLVE_PROXY ||
				msg->data.result == CURLE_COULDNT_RESOLVE_HOST ||
				msg->data.result == CURLE_COULDNT_CONNECT;
		}
		/* a cache's answer: the remote's clock was Date plus Age when it came */
		if (req->has_date)
			req->clock_offset_ms += req->age_ms;
		running--;
		req->in_flight = false;
		return req;
	}
	return NULL;
}

/*
 * The next finished request. Waits for one at most timeout_ms (0: only
 * takes what is ready), and returns NULL earlier when the latch is set.
 */
HttpRequest *
http_wait(long timeout_ms)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Max(timeout_ms, 0));
	HttpRequest *req;

	for (;;)
	{
		bool		latch_set;

		if ((req = take_finished()) != NULL)
			return req;
		if (running == 0)
			return NULL;
		latch_set = wait_and_drive(deadline);
		if ((req = take_finished()) != NULL || latch_set || GetCurrentTimestamp() >= deadline)
			return req;
	}
}

int
http_in_flight(void)
{
	return running;
}

/*
 * Frees libcurl's side of a request, finished or not (a request given up is
 * aborted); the connection stays cached.
 */
void
http_cleanup(HttpRequest *req)
{
	if (req->in_flight)
	{
		running--;
		req->in_flight = false;
	}
	if (req->handle)
	{
		curl_multi_remove_handle(multi, req->handle);
		curl_easy_cleanup(req->handle);
		req->handle = NULL;
	}
	if (req->headers)
	{
		/* libcurl's copy of the Authorization header holds the token */
		for (struct curl_slist *h = req->headers; h != NULL; h = h->next)
			explicit_bzero(h->data, strlen(h->data));
		curl_slist_free_all(req->headers);
		req->headers = NULL;
	}
	free(req->response.data);
	req->response.data = NULL;
}
