// SPDX-License-Identifier: GPL-2.0
/*
 * Counters, module-wide, shown in /proc/net/atls (init_net) as one
 * "name value" pair per line; Documentation/atls.7.rst lists them.
 * Plain atomics: the counters are advisory and cheap to bump from any path.
 */
#include <linux/module.h>
#include <linux/atomic.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <net/net_namespace.h>

#include "atls.h"

static atomic64_t atls_stats[__ATLS_STAT_MAX];
static atomic64_t atls_reasons[__ATLS_REASON_MAX];

static const char *const atls_stat_names[__ATLS_STAT_MAX] = {
	[ATLS_STAT_SOCKETS]		= "sockets",
	[ATLS_STAT_ACTIVE]		= "active_sockets",
	[ATLS_STAT_REQUESTS]		= "requests",
	[ATLS_STAT_NO_HELPER]		= "no_helper",
	[ATLS_STAT_ACCEPTED]		= "accepted",
	[ATLS_STAT_ABANDONED]		= "abandoned",
	[ATLS_STAT_READY]		= "ready",
	[ATLS_STAT_FAILED]		= "failed",
	[ATLS_STAT_TIMEOUTS]		= "timeouts",
	[ATLS_STAT_HELPER_DIED]		= "helper_died",
	[ATLS_STAT_ABORTS_SENT]		= "aborts_sent",
	[ATLS_STAT_DONE_REJECTED]	= "done_rejected",
	[ATLS_STAT_CLOSE_NOTIFY]	= "close_notify",
	[ATLS_STAT_ALERTS]		= "alerts",
	[ATLS_STAT_TICKETS_DROPPED]	= "tickets_dropped",
	[ATLS_STAT_KEY_UPDATES]		= "key_updates",
	[ATLS_STAT_RECORD_LIMIT]	= "record_limit",
	[ATLS_STAT_RX_NO_PAD_FAILED]	= "rx_no_pad_failed",
	[ATLS_STAT_LISTEN_CHILDREN]	= "listen_children",
	[ATLS_STAT_LISTEN_ACCEPTED]	= "listen_accepted",
	[ATLS_STAT_LISTEN_FAILED]	= "listen_failed",
	[ATLS_STAT_REKEY_RX]		= "rekey_rx",
	[ATLS_STAT_REKEY_TX]		= "rekey_tx",
	[ATLS_STAT_REKEY_FAILED]	= "rekey_failed",
};

void atls_stat_inc(enum atls_stat s)
{
	atomic64_inc(&atls_stats[s]);
}

void atls_stat_dec(enum atls_stat s)
{
	atomic64_dec(&atls_stats[s]);
}

void atls_stat_reason(u32 reason)
{
	if (reason < __ATLS_REASON_MAX)
		atomic64_inc(&atls_reasons[reason]);
}

static int atls_stats_show(struct seq_file *m, void *v)
{
	int i;

	for (i = 0; i < __ATLS_STAT_MAX; i++)
		seq_printf(m, "%s %lld\n", atls_stat_names[i],
			   (long long)atomic64_read(&atls_stats[i]));
	for (i = 1; i < __ATLS_REASON_MAX; i++)
		seq_printf(m, "reason_%d %lld\n", i,
			   (long long)atomic64_read(&atls_reasons[i]));
	seq_printf(m, "live_requests %u\n", atls_req_pending());
	return 0;
}

int atls_stats_init(void)
{
	if (!proc_create_single("atls", 0444, init_net.proc_net, atls_stats_show))
		return -ENOMEM;
	return 0;
}

void atls_stats_exit(void)
{
	remove_proc_entry("atls", init_net.proc_net);
}
