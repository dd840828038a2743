/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  The launcher of the per-database workers (launcher.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_LAUNCHER_H
#define DIRECTUS_SYNC_LAUNCHER_H

#include "compat.h"

extern void launcher_register(void);
pg_noreturn extern PGDLLEXPORT void directus_sync_launcher_main(Datum arg);

#endif							/* DIRECTUS_SYNC_LAUNCHER_H */
