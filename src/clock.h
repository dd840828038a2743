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

#endif							/* DIRECTUS_SYNC_CLOCK_H */
