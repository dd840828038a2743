/*-------------------------------------------------------------------------
 *
 * capture.h
 *	  The capture trigger (capture.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_CAPTURE_H
#define DIRECTUS_SYNC_CAPTURE_H

extern void capture_invalidate(Oid relid);

#endif							/* DIRECTUS_SYNC_CAPTURE_H */
