// SPDX-License-Identifier: Apache-2.0
/*
 * atlsd: the atls helper daemon (Documentation/atlsd.8.rst).
 *
 * Takes handshake requests from atls.ko over generic netlink, runs them with
 * libatls on a pool of worker threads, and hands the traffic keys and the
 * verdict back to the kernel.
 *
 * The main thread owns the control socket and the signals (a signalfd:
 * SIGTERM/SIGINT stop, SIGHUP reloads); an idle worker reads the registered
 * event socket (READY, ABORT) and ACCEPTs what it announces itself, the main
 * thread only while every worker is busy; workers own everything per
 * request (worker.c, "Waking").  Start-up refuses, with a
 * message saying what to do, when the module, kTLS or the TPM is missing, so
 * a broken host fails at `systemctl start` and not at the first connection.
 *
 * The TPM is opened once, after the privilege drop (so the TPM owner thread
 * is born unprivileged and the dedicated user's own access is what gets
 * checked), and that one connection is shared by every libatls context of
 * every configuration generation (engine.c explains its lifetime).  A
 * reload cannot move it to another TCTI: that needs a restart.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "atlsd.h"

#define DEF_CONF "/etc/atls/atlsd.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: atlsd [options]\n"
		"  -c, --config FILE    configuration (default %s, or $ATLSD_CONF)\n"
		"  -s, --state-dir DIR  keys, certificate, trust store (default /var/lib/atls)\n"
		"  -r, --run-dir DIR    control socket directory (default /run/atlsd)\n"
		"  -t, --tcti TCTI      TPM (default device:/dev/tpmrm0)\n"
		"  -w, --workers N      handshakes in parallel (default 8)\n"
		"  -u, --user USER      drop to USER keeping CAP_NET_ADMIN\n"
		"  -d, --debug          log debug messages\n"
		"  -n, --check          check configuration and environment, then exit\n"
		"  -h, --help\n", DEF_CONF);
}

struct opts {
	const char *conf, *state, *run, *tcti, *user;
	int workers, debug, check;
	bool conf_given;
};

/*
 * Say, at every load, which policies authenticate less than their use
 * suggests (none of the peer, or only when it attests) and which names are
 * old aliases (atls.conf(5), "Built-in policies").
 */
static void warn_policies(const struct atlsd_config *c)
{
	unsigned int i;

	for (i = 0; i < c->n_policies; i++) {
		const struct atlsd_policy *p = &c->policies[i];
		const char *note = atlsd_policy_auth_note(p);

		if (p->alias_of)
			log_warn(0, "policy \"%s\" is the old name of \"%s\"; use the new name",
				 p->name, p->alias_of);
		if (note)
			log_warn(0, "policy \"%s\" %s", p->name, note);
	}
}

/* Options override the file, which overrides the defaults/environment. */
static int load_config(const struct opts *o, struct atlsd_config *c)
{
	char err[300] = "";
	int ret;

	atlsd_config_defaults(c);
	if (o->state)
		atlsd_config_set_state_dir(c, o->state);
	ret = atlsd_config_load(c, o->conf, o->conf_given, err, sizeof(err));
	if (ret) {
		log_err(0, "configuration %s: %s", o->conf, err);
		return ret;
	}
	warn_policies(c);
	if (o->state)
		atlsd_config_set_state_dir(c, o->state);
	if (o->run)
		snprintf(c->run_dir, sizeof(c->run_dir), "%s", o->run);
	if (o->tcti)
		snprintf(c->tcti, sizeof(c->tcti), "%s", o->tcti);
	if (o->user)
		snprintf(c->user, sizeof(c->user), "%s", o->user);
	if (o->workers > 0)
		c->workers = o->workers;
	if (o->debug)
		c->log_level = ATLSD_LOG_DEBUG;
	return 0;
}

/* systemd Type=notify, without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void sd_notify_text(const char *text)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, text, strlen(text), 0, (struct sockaddr *)&sa, len) < 0)
		log_dbg(0, "sd_notify: %s", strerror(errno));
	close(fd);
}

static int check_environment(void)
{
	int ret;

	if (access("/sys/module/tls", F_OK)) {
		log_err(0, "kernel TLS is not available (/sys/module/tls missing): run `modprobe tls`");
		return -ENOENT;
	}
	ret = atlsd_nl_probe();
	if (ret == -ENOENT) {
		log_err(0, "the atls kernel module is not loaded (no generic netlink family \"atls\"): "
			   "run `modprobe atls`");
		return ret;
	}
	if (ret) {
		log_err(0, "cannot talk generic netlink: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

/* The daemon's one TPM connection, keys checked.  -errno, logged. */
static int open_tpm(const struct atlsd_config *c, struct atlsd_tpm **out)
{
	char err[300];
	int ret;

	ret = atlsd_tpm_open(c, out, err, sizeof(err));
	if (ret)
		log_err(0, "%s", err);
	return ret;
}

struct loop {
	struct atlsd_pool *pool;
	struct atlsd_tpm *tpm;
};

/* Warm an engine in the background; the thread holds a reference. */
static void *warm_main(void *arg)
{
	struct atlsd_engine *e = arg;

	atlsd_engine_warm(e);
	atlsd_engine_put(e);
	return NULL;
}

static void warm(struct atlsd_engine *e)
{
	pthread_t t;

	atlsd_engine_get(e);
	if (pthread_create(&t, NULL, warm_main, e)) {
		atlsd_engine_put(e);
		return;
	}
	pthread_detach(t);
}

static void on_ready(void *arg, uint32_t pending)
{
	struct loop *l = arg;

	/* Kick first: it stamps the READY's arrival (the latency split). */
	atlsd_pool_kick(l->pool, pending);
	log_dbg(0, "READY, %u pending", pending);
}

static void on_abort(void *arg, uint64_t id, uint32_t reason)
{
	struct loop *l = arg;

	atlsd_pool_abort(l->pool, id, reason);
}

static void on_overrun(void *arg)
{
	struct loop *l = arg;

	log_warn(0, "netlink events lost (receive buffer overrun); polling for work");
	atlsd_pool_kick(l->pool, 0);
}

static int reload(const struct opts *o, struct loop *l)
{
	struct atlsd_engine *e;
	struct atlsd_config *c = malloc(sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	ret = load_config(o, c);
	if (!ret && strcmp(c->tcti, atlsd_tpm_tcti(l->tpm)))
		log_warn(0, "tcti changed to \"%s\": a TPM change needs a restart, still using "
			    "\"%s\"", c->tcti, atlsd_tpm_tcti(l->tpm));
	if (!ret)
		ret = atlsd_engine_new(c, l->tpm, &e);
	if (!ret) {
		atlsd_log_set_level(c->log_level);
		atlsd_pool_set_engine(l->pool, e);
		warm(e);
		atlsd_engine_put(e);
		log_info(0, "configuration reloaded (%u policies); connections in progress keep "
			    "the previous one", c->n_policies);
	} else {
		log_err(0, "reload failed, keeping the previous configuration");
	}
	free(c);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "run-dir", required_argument, NULL, 'r' },
		{ "tcti", required_argument, NULL, 't' },
		{ "workers", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "debug", no_argument, NULL, 'd' },
		{ "check", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .conf = DEF_CONF };
	struct atlsd_config *cfg;
	struct atlsd_control *ctl = NULL;
	struct atlsd_engine *eng = NULL;
	struct atlsd_nl *listener = NULL;
	struct loop lp = { 0 };
	struct atlsd_nl_events ev = { on_ready, on_abort, on_overrun, &lp };
	char path[600], err[300];
	sigset_t sigs;
	int opt, sfd, ret = 1;

	/*
	 * tpm2-tss logs every structure it refuses to unmarshal; peer evidence
	 * is hostile input, so left alone a peer could fill the journal. atlsd
	 * reports TPM and evidence failures itself. An explicit TSS2_LOG wins.
	 */
	setenv("TSS2_LOG", "all+none", 0);

	if (getenv("ATLSD_CONF") && *getenv("ATLSD_CONF")) {
		o.conf = getenv("ATLSD_CONF");
		o.conf_given = true;
	}
	while ((opt = getopt_long(argc, argv, "c:s:r:t:w:u:dnh", lo, NULL)) != -1) {
		switch (opt) {
		case 'c': o.conf = optarg; o.conf_given = true; break;
		case 's': o.state = optarg; break;
		case 'r': o.run = optarg; break;
		case 't': o.tcti = optarg; break;
		case 'w': o.workers = atoi(optarg); break;
		case 'u': o.user = optarg; break;
		case 'd': o.debug = 1; break;
		case 'n': o.check = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || o.workers < 0 || o.workers > 256) {
		usage(stderr);
		return 2;
	}
	atlsd_log_init("atlsd", o.debug ? ATLSD_LOG_DEBUG : ATLSD_LOG_INFO);
	cfg = malloc(sizeof(*cfg));
	if (!cfg || load_config(&o, cfg))
		return 1;
	atlsd_log_set_level(cfg->log_level);
	if (check_environment())
		goto out;
	if (o.check) {
		if (open_tpm(cfg, &lp.tpm))
			goto out;
		log_info(0, "configuration and environment OK (%u policies)", cfg->n_policies);
		ret = 0;
		goto out;
	}

	/* Signals first, so a TERM during start-up is not lost. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_err(0, "signalfd: %s", strerror(errno));
		goto out;
	}

	if (mkdir(cfg->run_dir, 0750) && errno != EEXIST) {
		log_err(0, "cannot create %s: %s", cfg->run_dir, strerror(errno));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/atlsd.sock", cfg->run_dir);
	ret = atlsd_control_open(path, &ctl);
	if (ret == -EADDRINUSE) {
		log_err(0, "another atlsd is running with run directory %s (%s.lock is "
			"locked); not starting a second one", cfg->run_dir, path);
		ret = 1;
		goto out;
	}
	if (ret) {
		log_err(0, "control socket %s: %s", path, strerror(-ret));
		ret = 1;
		goto out;
	}
	ret = atlsd_nl_listen(&listener);
	if (ret) {
		log_err(0, "cannot register as the helper of this network namespace: %s",
			strerror(-ret));
		ret = 1;
		goto out_ctl;
	}
	ret = atlsd_drop_privileges(cfg->user, err, sizeof(err));
	if (ret) {
		log_err(0, "%s", err);
		ret = 1;
		goto out_nl;
	}
	ret = open_tpm(cfg, &lp.tpm);
	if (ret) {
		ret = 1;
		goto out_nl;
	}
	ret = atlsd_engine_new(cfg, lp.tpm, &eng);
	if (!ret)
		ret = atlsd_pool_start(cfg->workers, atlsd_workers_max(cfg), eng, listener,
				       &lp.pool);
	if (!ret)
		warm(eng);
	atlsd_engine_put(eng);
	if (ret) {
		log_err(0, "cannot start the workers: %s", strerror(-ret));
		ret = 1;
		goto out_nl;
	}
	log_info(0, "ready: %u workers (up to %u), %u policies, TPM %s, state %s%s%s",
		 cfg->workers, atlsd_workers_max(cfg),
		 cfg->n_policies, cfg->tcti, cfg->state_dir, cfg->user[0] ? ", user " : "",
		 cfg->user);
	sd_notify_text("READY=1");
	atlsd_pool_kick(lp.pool, 0);	/* requests queued before we joined */

	for (;;) {
		/* The listener only while no worker is free to (a negative
		 * fd is ignored by poll). */
		struct pollfd p[4] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = atlsd_pool_main_leads(lp.pool) ? atlsd_nl_fd(listener) : -1,
			  .events = POLLIN },
			{ .fd = atlsd_control_fd(ctl), .events = POLLIN },
			{ .fd = atlsd_pool_notify_fd(lp.pool), .events = POLLIN },
		};
		struct signalfd_siginfo si;

		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err(0, "poll: %s", strerror(errno));
			break;
		}
		ret = 0;
		if (p[3].revents)
			ret = atlsd_pool_notified(lp.pool);
		if (!ret && p[1].revents)
			ret = atlsd_pool_dispatch(lp.pool, &ev);
		if (ret) {
			log_err(0, "netlink listener failed: %s", strerror(-ret));
			break;
		}
		if (p[2].revents)
			atlsd_control_serve(ctl, lp.pool);
		if (p[0].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				sd_notify_text("RELOADING=1");
				reload(&o, &lp);
				sd_notify_text("READY=1");
				continue;
			}
			log_info(0, "signal %u: stopping, failing handshakes in progress",
				 si.ssi_signo);
			break;
		}
	}
	sd_notify_text("STOPPING=1");
	atlsd_pool_stop(lp.pool);
	log_info(0, "stopped");
	ret = 0;
out_nl:
	atlsd_nl_close(listener);
out_ctl:
	atlsd_control_close(ctl);
out:
	/* Closes the TPM unless an engine still holds it (then its last put). */
	atlsd_tpm_put(lp.tpm);
	free(cfg);
	return ret;
}
