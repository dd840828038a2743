/*-------------------------------------------------------------------------
 *
 * app_status.h
 *	  The worker's refresh of the status shown in the Directus app
 *	  (app_status.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_APP_STATUS_H
#define DIRECTUS_SYNC_APP_STATUS_H

extern void app_status_changed(void);
extern void app_status_refresh(bool idle);

#endif							/* DIRECTUS_SYNC_APP_STATUS_H */
