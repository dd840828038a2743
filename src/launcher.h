/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  The launcher of the per-database workers (launcher.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_LAUNCHER_H
#define DIRECTUS_SYNC_LAUNCHER_H

extern void launcher_register(void);
extern PGDLLEXPORT void directus_sync_launcher_main(Datum arg) pg_attribute_noreturn();

#endif							/* DIRECTUS_SYNC_LAUNCHER_H */
