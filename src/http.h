/*-------------------------------------------------------------------------
 *
 * http.h
 *	  HTTP transport of the worker (http.c): libcurl's multi interface.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_HTTP_H
#define DIRECTUS_SYNC_HTTP_H

#include "lib/stringinfo.h"

/* How to talk to one server. */
typedef struct HttpOptions
{
	char	   *token;			/* bearer token; never logged */
	int			connect_timeout_ms;
	int			request_timeout_ms;
	bool		verify_tls;
	const char *proxy;			/* URL of a proxy; NULL or "": none, whatever the environment says */
} HttpOptions;

typedef struct HttpRequest
{
	const char *method;
	char	   *url;
	StringInfoData body;		/* JSON; data NULL for none */
	void	   *owner;			/* the caller's, untouched */
	/* filled in when done */
	long		status;			/* 0 when no HTTP answer came */
	char		transport_error[256];
	bool		timed_out;		/* no answer in time: the remote may still apply it */
	bool		never_sent;		/* failed before reaching the server (no connection) */
	StringInfoData response;
	int			retry_after_ms; /* from a Retry-After header, else -1 */
	bool		has_date;		/* a Date header came: */
	int64		clock_offset_ms;	/* the remote's clock minus ours, about */
	int64		age_ms;			/* the Age header: how old a cache's answer is */
	/* libcurl's */
	bool		in_flight;		/* started and not yet returned by http_wait */
	void	   *handle;			/* CURL * */
	void	   *headers;		/* struct curl_slist * */
} HttpRequest;

extern void http_init(void);
extern void http_start(HttpRequest *req, const HttpOptions *options);
extern HttpRequest *http_wait(long timeout_ms);
extern int	http_in_flight(void);
extern void http_cleanup(HttpRequest *req);

#endif							/* DIRECTUS_SYNC_HTTP_H */
