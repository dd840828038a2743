/*-------------------------------------------------------------------------
 *
 * clock.h
 *	  The hybrid logical clock (clock.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_CLOCK_H
#define DIRECTUS_SYNC_CLOCK_H

extern void clock_request_shmem(void);
extern void clock_startup_shmem(void);
extern uint64 clock_tick(void);
extern bool clock_observe(uint64 remote);

/* A stamp's low bits count within a millisecond. */
#define CLOCK_COUNTER_BITS 16

/* A clock as text: 16 hex digits, '@', a node id (36 characters). */
#define CLOCK_TEXT_LEN 53
#define CLOCK_STAMP_LEN 16		/* its hex digits */

extern const char *clock_node(void);
extern void clock_text(uint64 stamp, char *out);
extern bool clock_text_valid(const char *s, int len);
extern bool clock_node_valid(const char *s, int len);
extern uint64 clock_text_stamp(const char *s);

#endif							/* DIRECTUS_SYNC_CLOCK_H */
