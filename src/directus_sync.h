/*-------------------------------------------------------------------------
 *
 * directus_sync.h
 *	  Settings shared between the files of the directus_sync module.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_H
#define DIRECTUS_SYNC_H

/* directus_sync.keep_map_on_drop: see map_guard.c */
extern bool keep_map_on_drop_setting;

#endif							/* DIRECTUS_SYNC_H */
