/*
 * xdp.c -- load, attach and steer the XDP program (see xdp.h and
 * xdp_syn.bpf.c). The program's object file is built into the daemon
 * (xdp_obj.c, made from xdp_syn.bpf.o by the build), so there is no file
 * to install or to get out of step with the daemon's cookie layout.
 */
#include "config.h"

#include <errno.h>
#include <glob.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine.h"
#include "log.h"
#include "net.h"
#include "tsclock.h"
#include "xdp.h"
#include "xdp_abi.h"

bool
xdp_gate(struct sg_xdp_gate *g, uint32_t above, uint64_t now_ms,
    uint64_t segs)
{
	if (above == 0) {
		g->on = true;
		return g->on;
	}
	if (g->last_ms == 0 || now_ms < g->last_ms || segs < g->last_segs) {
		g->last_ms = now_ms;
		g->last_segs = segs;
		g->low_since_ms = now_ms;
		return g->on;
	}
	uint64_t dt = now_ms - g->last_ms;
	if (dt < 20)
		return g->on; /* too short to tell a rate */
	uint64_t rate = (segs - g->last_segs) * 1000 / dt;
	g->last_ms = now_ms;
	g->last_segs = segs;
	if (rate > above) {
		g->on = true;
		g->low_since_ms = now_ms;
	} else if (rate * 4 >= above) {
		g->low_since_ms = now_ms;
	} else if (g->on && now_ms - g->low_since_ms >= 1000) {
		g->on = false;
	}
	return g->on;
}

#ifdef SG_HAVE_XDP

#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

extern const unsigned char sg_xdp_obj[];
extern const size_t sg_xdp_obj_len;

struct sg_xdp {
	struct bpf_object *obj;
	int prog_fd;
	int conf_fd, listen_fd, addrs_fd, ifs_fd, counters_fd;
	struct sg_xdp_conf conf;
	struct {
		int ifindex;
		int link; /* a BPF link: closed, it detaches the program */
		bool gone; /* said once: the kernel took it off */
		char name[IF_NAMESIZE];
	} ifs[SG_CONFIG_MAX_XDP];
	unsigned nifs;
	int ncpus;
	uint64_t *percpu; /* ncpus values, for reading the counters */
};

bool
xdp_built(void)
{
	return true;
}

/* libbpf's messages, the verifier's log among them (useful when a kernel
 * refuses the program): each line at debug level, the last 40 of a long
 * one, where the verifier says what it refused. Start-up only. */
static int __attribute__((format(printf, 2, 0)))
libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *buf = NULL, *line, *next;
	unsigned n = 0, skip = 0;

	if (level == LIBBPF_DEBUG || vasprintf(&buf, fmt, ap) == -1)
		return 0;
	for (line = buf; *line != '\0'; line++)
		n += *line == '\n';
	if (n > 40)
		skip = n - 40;
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (skip > 0)
			skip--;
		else
			log_debug("libbpf: %s", line);
	}
	free(buf);
	return 0;
}

static int
map_fd(struct sg_xdp *x, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(x->obj, name);

	return m != NULL ? bpf_map__fd(m) : -1;
}

struct sg_xdp *
xdp_new(const struct sg_cookie_secret *secret, char *err, size_t errlen)
{
	struct sg_xdp *x = calloc(1, sizeof(*x));
	struct bpf_program *prog;
	struct sg_sipkey ik;

	if (x == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	libbpf_set_print(libbpf_log);
	x->ncpus = libbpf_num_possible_cpus();
	if (x->ncpus <= 0 || (x->percpu = calloc((size_t)x->ncpus,
	    sizeof(uint64_t))) == NULL) {
		snprintf(err, errlen, "cannot count the CPUs");
		goto fail;
	}
	x->obj = bpf_object__open_mem(sg_xdp_obj, sg_xdp_obj_len, NULL);
	if (x->obj == NULL) {
		snprintf(err, errlen, "cannot open the XDP program: %s",
		    strerror(errno));
		goto fail;
	}
	int r = bpf_object__load(x->obj);
	if (r != 0) {
		int e = -r;
		snprintf(err, errlen, "cannot load the XDP program: %s%s",
		    strerror(e), e == EPERM ? " (it needs CAP_BPF and "
		    "CAP_NET_ADMIN, or root outside a user namespace)" :
		    " (the kernel's reason is logged at debug level)");
		goto fail;
	}
	prog = bpf_object__find_program_by_name(x->obj, "sg_xdp_syn");
	x->prog_fd = prog != NULL ? bpf_program__fd(prog) : -1;
	x->conf_fd = map_fd(x, "sg_conf");
	x->listen_fd = map_fd(x, "sg_listen");
	x->addrs_fd = map_fd(x, "sg_addrs");
	x->ifs_fd = map_fd(x, "sg_ifs");
	x->counters_fd = map_fd(x, "sg_counters");
	if (x->prog_fd < 0 || x->conf_fd < 0 || x->listen_fd < 0 ||
	    x->addrs_fd < 0 || x->ifs_fd < 0 || x->counters_fd < 0) {
		snprintf(err, errlen, "the XDP program lacks a part");
		goto fail;
	}
	x->conf.k0 = secret->key.k0;
	x->conf.k1 = secret->key.k1;
	engine_isn_key(secret, &ik);
	x->conf.ik0 = ik.k0;
	x->conf.ik1 = ik.k1;
	if (xdp_set(x, 0, false, 0) == -1) {
		snprintf(err, errlen, "cannot write the XDP program's "
		    "settings: %s", strerror(errno));
		goto fail;
	}
	return x;
fail:
	xdp_free(x);
	return NULL;
}

/* Whether an interface has a VLAN device on top: with the NIC's VLAN
 * offload, the XDP program would see that VLAN's frames with the tag
 * already stripped, and answer them untagged. */
static bool
has_vlan_upper(const char *ifname)
{
	char pat[64 + IF_NAMESIZE], vlan[64 + IF_NAMESIZE];
	glob_t g;
	bool found = false;

	snprintf(pat, sizeof(pat), "/sys/class/net/%s/upper_*", ifname);
	if (glob(pat, 0, NULL, &g) != 0)
		return false;
	for (size_t i = 0; i < g.gl_pathc && !found; i++) {
		const char *up = strrchr(g.gl_pathv[i], '/') + 1 + 6;
		snprintf(vlan, sizeof(vlan), "/proc/net/vlan/%s", up);
		found = access(vlan, F_OK) == 0;
	}
	globfree(&g);
	return found;
}

int
xdp_attach(struct sg_xdp *x, const char *ifname, char *err, size_t errlen)
{
	unsigned idx = if_nametoindex(ifname);
	uint8_t mac[6];
	int link, type;

	if (idx == 0) {
		snprintf(err, errlen, "xdp_interfaces: %s: %s", ifname,
		    strerror(errno));
		return -1;
	}
	if (x->nifs == SG_CONFIG_MAX_XDP) {
		snprintf(err, errlen, "xdp_interfaces: too many");
		return -1;
	}
	type = net_ifhwaddr((int)idx, mac);
	if (type != ARPHRD_ETHER && type != ARPHRD_LOOPBACK) {
		snprintf(err, errlen, "xdp_interfaces: %s is not an Ethernet "
		    "interface", ifname);
		return -1;
	}
	if (has_vlan_upper(ifname)) {
		snprintf(err, errlen, "xdp_interfaces: %s carries VLANs: name "
		    "the VLAN interfaces instead, or none (the program would "
		    "see their frames without the tag)", ifname);
		return -1;
	}
	/* The driver's own XDP where it has it (the kernel's generic one
	 * where it has none). A driver that has it but refuses the program
	 * is refused in turn: the generic XDP would copy every packet that
	 * came in pieces, a handed-off connection's large ones too. */
	link = bpf_link_create(x->prog_fd, (int)idx, BPF_XDP, NULL);
	if (link < 0) {
		int e = -link;
		snprintf(err, errlen, "xdp_interfaces: cannot attach to %s: "
		    "%s%s", ifname, strerror(e), e == EBUSY || e == EEXIST ?
		    " (another XDP program is attached there)" :
		    " (its driver refuses the program; the kernel's log may "
		    "say why)");
		return -1;
	}
	x->ifs[x->nifs].ifindex = (int)idx;
	x->ifs[x->nifs].link = link;
	x->ifs[x->nifs].gone = false;
	snprintf(x->ifs[x->nifs].name, IF_NAMESIZE, "%s", ifname);
	x->nifs++;
	return 0;
}

/* Delete every key of a hash map that keep() does not want. */
static void
prune(int fd, size_t keylen, bool (*keep)(const void *key, const void *arg),
    const void *arg)
{
	uint8_t key[64], next[64], dead[256][64];
	unsigned ndead = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		if (!keep(next, arg) && ndead < 256)
			memcpy(dead[ndead++], next, keylen);
		memcpy(key, next, keylen);
		prev = key;
	}
	for (unsigned i = 0; i < ndead; i++)
		(void)bpf_map_delete_elem(fd, dead[i]);
}

static void
listen_key(const struct sg_listen_conf *l, struct sg_xdp_listen *k)
{
	memset(k, 0, sizeof(*k));
	k->family = (uint8_t)l->family;
	k->port = l->port;
	memcpy(k->addr, l->addr, l->family == AF_INET ? 4 : 16);
}

static bool
listen_keep(const void *key, const void *arg)
{
	const struct sg_config *conf = arg;
	struct sg_xdp_listen k;

	for (unsigned i = 0; i < conf->nlisten; i++) {
		listen_key(&conf->listen[i], &k);
		if (memcmp(&k, key, sizeof(k)) == 0)
			return true;
	}
	return false;
}

static void
addr_key(const struct sg_addrset *set, unsigned i, struct sg_xdp_addr *k)
{
	memset(k, 0, sizeof(*k));
	k->family = set->a[i].family;
	memcpy(k->addr, set->a[i].addr, k->family == AF_INET ? 4 : 16);
}

static bool
addr_keep(const void *key, const void *arg)
{
	const struct sg_addrset *set = arg;
	struct sg_xdp_addr k;

	for (unsigned i = 0; set != NULL && i < set->n; i++) {
		addr_key(set, i, &k);
		if (memcmp(&k, key, sizeof(k)) == 0)
			return true;
	}
	return false;
}

int
xdp_sync(struct sg_xdp *x, const struct sg_config *conf,
    const struct sg_addrset *local, uint16_t window, uint8_t wscale)
{
	uint8_t one = 1;
	int rc = 0;

	/* Stale entries out first, so a full map has room for new ones: in
	 * between, a SYN for either only goes to the workers. */
	prune(x->listen_fd, sizeof(struct sg_xdp_listen), listen_keep, conf);
	prune(x->addrs_fd, sizeof(struct sg_xdp_addr), addr_keep, local);
	for (unsigned i = 0; i < conf->nlisten; i++) {
		struct sg_xdp_listen k;
		listen_key(&conf->listen[i], &k);
		if (bpf_map_update_elem(x->listen_fd, &k, &one, BPF_ANY) != 0)
			rc = -1;
	}
	for (unsigned i = 0; local != NULL && i < local->n &&
	    i < SG_XDP_ADDRS_MAX; i++) {
		struct sg_xdp_addr k;
		addr_key(local, i, &k);
		if (bpf_map_update_elem(x->addrs_fd, &k, &one, BPF_ANY) != 0)
			rc = -1;
	}
	for (unsigned i = 0; i < x->nifs; i++) {
		uint32_t idx = (uint32_t)x->ifs[i].ifindex;
		struct bpf_link_info li;
		uint32_t len = sizeof(li);
		struct sg_xdp_if m;
		int mtu = net_ifmtu((int)idx);

		/* An interface deleted (or moved away) takes the program
		 * with it; a new one of the same name gets it at a restart. */
		memset(&li, 0, sizeof(li));
		if (!x->ifs[i].gone &&
		    bpf_obj_get_info_by_fd(x->ifs[i].link, &li, &len) == 0 &&
		    li.xdp.ifindex == 0) {
			log_warnx("xdp_interfaces: %s is gone, and the XDP "
			    "program with it (a restart attaches it to a new "
			    "one)", x->ifs[i].name);
			x->ifs[i].gone = true;
		}
		memset(&m, 0, sizeof(m));
		if (mtu <= 0 || net_ifhwaddr((int)idx, m.mac) == -1) {
			(void)bpf_map_delete_elem(x->ifs_fd, &idx);
			continue;
		}
		m.mss4 = net_mss(mtu, AF_INET);
		m.mss6 = net_mss(mtu, AF_INET6);
		if (bpf_map_update_elem(x->ifs_fd, &idx, &m, BPF_ANY) != 0)
			rc = -1;
	}
	x->conf.window = window;
	x->conf.wscale = wscale;
	x->conf.addrs_known = local != NULL && local->n > 0;
	if (xdp_set(x, x->conf.counter, x->conf.on, x->conf.burst) == -1)
		rc = -1;
	return rc;
}

int
xdp_set(struct sg_xdp *x, uint32_t counter, bool on, uint32_t burst)
{
	uint32_t zero = 0;

	x->conf.counter = counter;
	x->conf.on = on;
	x->conf.burst = burst;
	x->conf.until_ns = (sg_clock_ms(CLOCK_MONOTONIC) + XDP_STALE_MS) *
	    1000000;
	return bpf_map_update_elem(x->conf_fd, &zero, &x->conf, BPF_ANY) == 0 ?
	    0 : -1;
}

uint64_t
xdp_count(struct sg_xdp *x, unsigned idx)
{
	uint32_t key = idx;
	uint64_t sum = 0;

	if (bpf_map_lookup_elem(x->counters_fd, &key, x->percpu) != 0)
		return 0;
	for (int i = 0; i < x->ncpus; i++)
		sum += x->percpu[i];
	return sum;
}

void
xdp_runtime(struct sg_xdp *x, uint64_t *ns, uint64_t *runs)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	*ns = *runs = 0;
	if (bpf_obj_get_info_by_fd(x->prog_fd, &info, &len) == 0) {
		*ns = info.run_time_ns;
		*runs = info.run_cnt;
	}
}

int
xdp_prog_fd(const struct sg_xdp *x)
{
	return x->prog_fd;
}

void
xdp_free(struct sg_xdp *x)
{
	if (x == NULL)
		return;
	for (unsigned i = 0; i < x->nifs; i++)
		close(x->ifs[i].link);
	bpf_object__close(x->obj);
	free(x->percpu);
	free(x);
}

#else /* !SG_HAVE_XDP */

struct sg_xdp {
	int unused;
};

bool
xdp_built(void)
{
	return false;
}

struct sg_xdp *
xdp_new(const struct sg_cookie_secret *secret, char *err, size_t errlen)
{
	(void)secret;
	snprintf(err, errlen, "this synguard was built without its XDP "
	    "program (configure found no clang or libbpf)");
	return NULL;
}

int
xdp_attach(struct sg_xdp *x, const char *ifname, char *err, size_t errlen)
{
	(void)x;
	(void)ifname;
	snprintf(err, errlen, "no XDP program in this build");
	return -1;
}

int
xdp_sync(struct sg_xdp *x, const struct sg_config *conf,
    const struct sg_addrset *local, uint16_t window, uint8_t wscale)
{
	(void)window;
	(void)wscale;
	(void)x;
	(void)conf;
	(void)local;
	errno = ENOSYS;
	return -1;
}

int
xdp_set(struct sg_xdp *x, uint32_t counter, bool on, uint32_t burst)
{
	(void)x;
	(void)counter;
	(void)on;
	(void)burst;
	errno = ENOSYS;
	return -1;
}

uint64_t
xdp_count(struct sg_xdp *x, unsigned idx)
{
	(void)x;
	(void)idx;
	return 0;
}

void
xdp_runtime(struct sg_xdp *x, uint64_t *ns, uint64_t *runs)
{
	(void)x;
	*ns = *runs = 0;
}

int
xdp_prog_fd(const struct sg_xdp *x)
{
	(void)x;
	return -1;
}

void
xdp_free(struct sg_xdp *x)
{
	(void)x;
}

#endif
