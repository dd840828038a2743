/*-------------------------------------------------------------------------
 *
 * directus_steps.h
 *	  Inside a window of the Directus protocol: its steps and state, shared
 *	  by directus.c (the window, its requests and failures) and
 *	  directus_apply.c (idempotent apply: probes, and what answers about
 *	  missing or existing items decide). Other files use directus.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_DIRECTUS_STEPS_H
#define DIRECTUS_SYNC_DIRECTUS_STEPS_H

#include "directus.h"
#include "directus_wire.h"

/* The steps that are requests are those of directus_wire.h. */
typedef enum StepKind
{
	STEP_CREATE = DIRECTUS_CREATE,
	STEP_UPDATE = DIRECTUS_UPDATE,
	STEP_DELETE = DIRECTUS_DELETE,
	STEP_SINGLETON = DIRECTUS_SINGLETON,
	STEP_PROBE = DIRECTUS_PROBE,	/* GET which keys the remote has */
	STEP_PING = DIRECTUS_PING,	/* GET the remote's time: all else is held back */
	STEP_RECREATE				/* the worker reads current rows, then create them */
} StepKind;

/* Why a probe was sent: what its answer decides. */
typedef enum ProbeReason
{
	PROBE_CREATE_CONFLICT,
	PROBE_UPDATE_UNCONFIRMED,
	PROBE_UPDATE_FORBIDDEN,
	PROBE_DELETE_FORBIDDEN
} ProbeReason;

typedef struct Step
{
	StepKind	kind;
	SyncSubscription *sub;
	List	   *items;			/* of SyncItem */
	bool		probed;			/* a probe already ran: an error now is real */
	ProbeReason reason;			/* STEP_PROBE only */
	int			status;			/* STEP_PROBE, or STEP_PING that judges a
								 * refusal: the answer that led to it */
	char	   *code;
	char	   *message;
	int			listed;			/* STEP_PROBE: keys that answer listed */
	struct Step *refused;		/* STEP_PING: the write the remote refused
								 * (503) whose fault the ping tells; NULL: a
								 * ping for the remote's time (hold_back.c) */
	int			retry_after_ms; /* STEP_PING with refused: its Retry-After */
} Step;

/* One item's failure, held back until it is clear whose failure it is. */
typedef struct HeldFailure
{
	SyncItem   *item;			/* NULL: none */
	ItemOutcome outcome;
	int			status;
	char	   *code;
	char	   *message;
} HeldFailure;

struct DirectusWindow
{
	MemoryContext cxt;			/* steps and outcomes live here */
	SyncRemote *remote;
	List	   *items;
	List	   *steps;			/* to do, head first */
	Step	   *current;		/* its request is in flight */
	char	   *remote_error;	/* set: the remote backs off, the rest waits */
	int			retry_after_ms;
	int			answer_cap;		/* most items an answer lists (0: none seen) */
	bool		answered;		/* an HTTP answer came */
	bool		has_clock_offset;	/* the last answer had a Date header: */
	int64		clock_offset_ms;	/* the remote's clock minus ours */
	char	   *ping_error;		/* asking the remote's time failed: why */
	/* whose failure is it (directus_failure.c, may_be_remote) */
	bool		items_fail_alone;	/* a write went through, or items failed
									 * differently: failures are the items' */
	HeldFailure held[2];		/* the first and last item of a failing batch */
	int			nheld;
	Step	   *sample_rest;	/* the other items of that batch */
};

/* directus.c */
extern Step *directus_new_step(StepKind kind, SyncSubscription *sub, List *items, bool probed);
extern Step *directus_step_with(const Step *step, List *items);
extern void directus_push_step(DirectusWindow *win, Step *step);
extern void directus_settle(List *items, ItemOutcome outcome, int status, const char *code,
							const char *message);

/* directus_failure.c */
extern void directus_back_off(DirectusWindow *win, const char *error, int retry_after_ms);
extern void directus_remote_failure(DirectusWindow *win, Step *step, const char *error, int retry_after_ms);
extern void directus_settle_failure(SyncItem *item, ItemOutcome outcome, int status, const char *code,
									const char *message);
extern void directus_items_fail_alone(DirectusWindow *win);
extern void directus_item_failure(DirectusWindow *win, Step *step, ItemOutcome outcome,
								  int status, const char *code, const char *message);
extern void directus_failed_answer(DirectusWindow *win, Step *step, HttpRequest *req);
extern void directus_refusal_judged(DirectusWindow *win, Step *ping, HttpRequest *req);

/* directus_apply.c */
extern void directus_update_answered(DirectusWindow *win, Step *step, HttpRequest *req);
extern void directus_probe_answered(DirectusWindow *win, Step *step, HttpRequest *req);
extern void directus_probe_failed(DirectusWindow *win, Step *step);
extern void directus_create_conflict(DirectusWindow *win, Step *step, int status,
									 const char *code, const char *message);
extern void directus_write_forbidden(DirectusWindow *win, Step *step, int status,
									 const char *code, const char *message);
extern void directus_update_vanished(DirectusWindow *win, Step *step, int status,
									 const char *code, const char *message);

#endif							/* DIRECTUS_SYNC_DIRECTUS_STEPS_H */
