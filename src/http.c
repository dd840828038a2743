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
 * libcurl's callbacks must not throw (a longjmp through libcurl leaves it
 * broken), so the answer's buffer is malloc'd and capped, not palloc'd.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "miscadmin.h"

#include "http.h"

/*
 * Most of an answer kept; the rest of a larger one is dropped. We read only
 * statuses, keys and error bodies: keys of a 10,000-item batch fit.
 */
#define MAX_RESPONSE_BYTES (4 * 1024 * 1024)
#define FIRST_RESPONSE_BYTES 4096

static CURLM *multi = NULL;
static int	running = 0;

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

static size_t
on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	HttpRequest *req = userdata;
	size_t		n = size * nmemb;
	static const char name[] = "retry-after:";

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
	req->retry_after_ms = -1;

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

/* The next finished request, or NULL if none finished within timeout_ms. */
HttpRequest *
http_wait(long timeout_ms)
{
	CURLMsg    *msg;
	int			still_running;
	int			queued;

	for (;;)
	{
		if (curl_multi_perform(multi, &still_running) != CURLM_OK)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("libcurl multi interface failed")));
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
			}
			running--;
			req->in_flight = false;
			return req;
		}
		if (timeout_ms <= 0 || running == 0)
			return NULL;
		curl_multi_poll(multi, NULL, 0, (int) timeout_ms, NULL);
		timeout_ms = 0;			/* one wait, then report what finished */
		CHECK_FOR_INTERRUPTS();
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
