/*-------------------------------------------------------------------------
 *
 * directus.h
 *	  The Directus REST protocol (directus.c): a window of items becomes
 *	  requests, and answers settle items.
 *
 * The worker drives a window: while it wants the current rows of some items
 * it reads them (queue_current_rows) and gives them back; then it sends the
 * next request, hands its answer over, and repeats until the window is
 * done; then it records the items' outcomes (queue_record). The protocol
 * itself never touches the database.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_DIRECTUS_H
#define DIRECTUS_SYNC_DIRECTUS_H

#include "directus_sync.h"
#include "http.h"

typedef struct DirectusWindow DirectusWindow;

extern DirectusWindow *directus_window_begin(SyncRemote *remote, List *items);
extern bool directus_window_wants_rows(DirectusWindow *win, SyncSubscription **sub, List **keys);
extern void directus_window_give_rows(DirectusWindow *win, List *payloads);
extern HttpRequest *directus_window_next(DirectusWindow *win);
extern void directus_window_answer(DirectusWindow *win, HttpRequest *req);
extern bool directus_window_done(DirectusWindow *win);
extern SyncRemote *directus_window_remote(DirectusWindow *win);
extern List *directus_window_items(DirectusWindow *win);
extern const char *directus_window_remote_error(DirectusWindow *win, int *retry_after_ms);
extern bool directus_window_clock_offset(DirectusWindow *win, int64 *offset_ms, bool *answered,
										 const char **ping_error);

#endif							/* DIRECTUS_SYNC_DIRECTUS_H */
