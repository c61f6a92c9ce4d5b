/*
 * engine.c -- the handshake engine: LISTEN and SYN-RECEIVED for synguard's
 * ports (RFC 9293 3.10.7.2 and 3.10.7.4), with the half-open table, its
 * timers and SYN cookies (RFC 4987).
 *
 * Per segment it does a bounded amount of work: one table lookup, at most
 * one cookie computation, at most one reply. It never allocates, never
 * makes a system call itself, and never answers with an RST.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "engine.h"
#include "tsclock.h"

/* RFC 9293 3.7.1: a peer that sends no MSS option accepts 536 bytes. */
#define DEFAULT_PEER_MSS 536
/* Timer events per engine_timers call: what is left is due at once, and
 * the worker's loop reads the tap in between. */
#define TIMER_BUDGET 2048
/* Linux's TCP_MIN_MSS: smaller values only serve to make us send tiny
 * segments (CVE-2019-11479); the kernel clamps the same way. */
#define MIN_PEER_MSS 88

/*
 * Per-source SYN rate limit: a token bucket per source address, in a
 * direct-mapped table indexed by a keyed hash of the address. A collision
 * gives the newcomer a full bucket: it can only let a source through, never
 * starve one, and a single source flooding keeps its own slot, so it is the
 * one that is slowed. Tokens are counted in thousandths.
 */
#define RATE_SLOTS 16384

struct rate_slot {
	uint32_t tag;      /* keyed hash of the source address; 0: free */
	uint32_t tokens;   /* thousandths of a SYN */
	uint32_t last_ms;  /* when tokens were last topped up */
};

/*
 * Handshakes completed through a cookie, remembered for a while. The tap
 * hands us copies that may lag behind what the kernel already delivered:
 * a duplicate of the completing segment can come after the connection it
 * completed is closed and gone, and its cookie is still valid, so the
 * kernel would let it be made again (and its data replayed to a backend).
 * Keyed by the 4-tuple and the client's ISN, so a new connection on the
 * same 4-tuple is not mistaken for a duplicate. Direct-mapped: a slot
 * taken over only weakens this to the kernel's own refusal while the
 * first socket exists.
 */
#define RECENT_SLOTS 16384
#define RECENT_TTL_MS 10000

struct recent_slot {
	uint64_t tag;    /* 0: free */
	uint32_t at_ms;
	uint32_t pad;
};

struct sg_engine {
	struct sg_engine_conf conf;
	struct sg_listen_conf listen[SG_CONFIG_MAX_LISTEN];
	struct sg_halfopen *table;
	struct sg_cookie_secret secret;
	struct sg_sipkey isn_key; /* ISNs and TSval offsets (RFC 6528,
				     RFC 7323 5.4), derived from secret */
	struct sg_engine_ops ops;
	void *arg;
	struct sg_stats *stats;
	const struct sg_clock *now; /* during engine_timers only */
	struct rate_slot *rate;     /* RATE_SLOTS, if syn_rate is set */
	struct recent_slot recent[RECENT_SLOTS];
};

/* Count a dropped segment. */
static void
drop(struct sg_engine *e, enum sg_reason r)
{
	e->stats->drops[r]++;
}

/* Whether an address is one of the host's own (if they are known). */
static bool
address_local(const struct sg_engine *e, const struct sg_tuple *t)
{
	const struct sg_addrset *set = e->conf.local;
	size_t alen = t->family == AF_INET ? 4 : 16;

	if (set == NULL || set->n == 0)
		return true;
	for (unsigned i = 0; i < set->n; i++)
		if (set->a[i].family == t->family &&
		    memcmp(set->a[i].addr, t->local_addr, alen) == 0)
			return true;
	return false;
}

/*
 * Whether the segment is addressed to one of the listen entries: an entry
 * for its address, or else a wildcard entry for its port, which takes only
 * the host's own addresses: a host that routes or bridges (containers,
 * VMs) sees SYNs for other hosts on its ports, and answering those would
 * hijack connections that are not ours. (The XDP program decides the same
 * way, by two lookups.)
 */
static bool
listen_match(const struct sg_engine *e, const struct sg_tuple *t)
{
	static const uint8_t any[16];
	size_t alen = t->family == AF_INET ? 4 : 16;
	bool wildcard = false;

	for (unsigned i = 0; i < e->conf.nlisten; i++) {
		const struct sg_listen_conf *l = &e->listen[i];
		if (l->port != t->local_port || l->family != t->family)
			continue;
		if (memcmp(l->addr, t->local_addr, alen) == 0)
			return true;
		if (memcmp(l->addr, any, alen) == 0)
			wildcard = true;
	}
	return wildcard && address_local(e, t);
}

/* A keyed hash of the 4-tuple and one more word. */
static uint64_t
tuple_hash64(const struct sg_engine *e, const struct sg_tuple *t,
    uint32_t salt)
{
	struct {
		struct sg_tuple t;
		uint32_t salt;
	} in;

	memset(&in, 0, sizeof(in));
	in.t = *t;
	in.salt = salt;
	return siphash24(&e->isn_key, &in, sizeof(in));
}

/* Its low 32 bits, for ISNs and offsets. */
static uint32_t
tuple_hash(const struct sg_engine *e, const struct sg_tuple *t, uint32_t salt)
{
	return (uint32_t)tuple_hash64(e, t, salt);
}

/* Our TSval now for this connection: a millisecond clock with a per-tuple
 * offset, so TSvals reveal neither uptime nor other flows (RFC 7323 5.4).
 * The offset keeps below 2^29 (tsclock.h). */
static uint32_t
tsval_now(const struct sg_engine *e, const struct sg_tuple *t,
    const struct sg_clock *now)
{
	return (uint32_t)now->mono_ms +
	    (tuple_hash(e, t, 0x54530000u) & SG_TS_OFFSET_MASK);
}

/* ISN for a table entry: RFC 6528, a keyed hash of the connection plus a
 * clock ticking every 4 us. */
static uint32_t
isn_new(const struct sg_engine *e, const struct sg_tuple *t,
    uint32_t client_isn, const struct sg_clock *now)
{
	return tuple_hash(e, t, client_isn) + (uint32_t)(now->mono_ms * 250);
}

/* The client's MSS to use for sending: 536 if absent, floored. */
static uint16_t
peer_mss(const struct sg_tcpopts *o)
{
	uint16_t mss = (o->flags & SG_OPT_MSS) ? o->mss : DEFAULT_PEER_MSS;
	return mss < MIN_PEER_MSS ? MIN_PEER_MSS : mss;
}

/* Send a SYN-ACK offering what optflags says the SYN offered. */
static void
send_synack(struct sg_engine *e, const struct sg_tuple *t, uint32_t our_isn,
    uint32_t client_isn, uint8_t optflags, uint16_t our_mss, uint32_t tsval,
    uint32_t tsecr)
{
	struct sg_reply r;

	memset(&r, 0, sizeof(r));
	r.tuple = *t;
	r.seq = our_isn;
	r.ack = client_isn + 1;
	r.window = e->conf.our_window;
	r.flags = SG_TCP_SYN | SG_TCP_ACK;
	r.opts.flags = SG_OPT_MSS |
	    (optflags & (SG_OPT_WSCALE | SG_OPT_SACKOK | SG_OPT_TS));
	r.opts.mss = our_mss;
	r.opts.wscale = e->conf.our_wscale;
	r.opts.tsval = tsval;
	r.opts.tsecr = tsecr;
	if (e->ops.tx(e->arg, &r) == -1) {
		e->stats->tx_errors++;
		drop(e, SG_R_TX_FAILED);
		return;
	}
	e->stats->synack_sent++;
}

/* (Re)send the SYN-ACK of a table entry, with a fresh TSval. */
static void
entry_synack(struct sg_engine *e, struct sg_halfopen_entry *h,
    const struct sg_clock *now)
{
	if (h->optflags & SG_OPT_TS)
		h->tsval = tsval_now(e, &h->tuple, now);
	send_synack(e, &h->tuple, h->our_isn, h->client_isn, h->optflags,
	    h->our_mss, h->tsval, h->ts_recent);
}

/* Record what a SYN asked for in a table entry. */
static void
entry_fill(struct sg_engine *e, struct sg_halfopen_entry *h,
    const struct sg_segment *seg, uint16_t our_mss, const struct sg_clock *now)
{
	h->client_isn = seg->seq;
	h->our_isn = isn_new(e, &seg->tuple, seg->seq, now);
	h->ts_recent = seg->opts.tsval;
	h->mss = peer_mss(&seg->opts);
	h->wscale = seg->opts.wscale;
	h->optflags = seg->opts.flags & (SG_OPT_WSCALE | SG_OPT_SACKOK |
	    SG_OPT_TS);
	h->our_mss = our_mss;
	h->created_ms = (uint32_t)now->mono_ms;
}

/* Answer a SYN with a cookie: no state kept. */
static void
syn_cookie(struct sg_engine *e, const struct sg_segment *seg, uint16_t our_mss,
    const struct sg_clock *now)
{
	struct sg_tcpopts enc;
	uint32_t tsval = tsval_now(e, &seg->tuple, now);
	uint32_t counter = cookie_counter(now->real_s,
	    e->conf.cookie_period_s);
	uint32_t isn = cookie_make(&e->secret, &seg->tuple, seg->seq, counter,
	    &seg->opts, &tsval, &enc);

	e->stats->cookie_sent++;
	send_synack(e, &seg->tuple, isn, seg->seq, enc.flags, our_mss, tsval,
	    seg->opts.tsval);
}

/* Whether the source of a SYN still has a token; takes one if so. */
static bool
rate_allow(struct sg_engine *e, const struct sg_tuple *t,
    const struct sg_clock *now)
{
	struct {
		uint8_t family;
		uint8_t addr[16];
	} src;
	uint64_t cap = (uint64_t)(e->conf.syn_burst ? e->conf.syn_burst :
	    e->conf.syn_rate) * 1000;
	uint32_t now_ms = (uint32_t)now->mono_ms;

	memset(&src, 0, sizeof(src));
	src.family = t->family;
	memcpy(src.addr, t->peer_addr, sizeof(src.addr));
	uint64_t h = siphash24(&e->isn_key, &src, sizeof(src));
	struct rate_slot *s = &e->rate[h % RATE_SLOTS];
	uint32_t tag = (uint32_t)(h >> 32) | 1;

	if (s->tag != tag) {
		s->tag = tag;
		s->tokens = (uint32_t)cap;
		s->last_ms = now_ms;
	} else {
		uint64_t add = (uint64_t)(uint32_t)(now_ms - s->last_ms) *
		    e->conf.syn_rate;
		uint64_t tokens = s->tokens + add;
		s->tokens = (uint32_t)(tokens > cap ? cap : tokens);
		s->last_ms = now_ms;
	}
	if (s->tokens < 1000)
		return false;
	s->tokens -= 1000;
	return true;
}

/* The half-open entry of seg's tuple, or NULL; hashes the tuple into
 * *hint unless a batch's look-ahead already did. */
static struct sg_halfopen_entry *
table_lookup(struct sg_engine *e, const struct sg_segment *seg, uint32_t *hint)
{
	if (*hint == SG_HINT_NONE)
		*hint = halfopen_bucket(e->table, &seg->tuple);
	return halfopen_lookup_at(e->table, &seg->tuple, *hint);
}

/* A SYN: re-answer a known one, else a table entry or a cookie. */
static void
on_syn(struct sg_engine *e, const struct sg_segment *seg, uint16_t our_mss,
    const struct sg_clock *now, uint32_t hint)
{
	struct sg_halfopen_entry *h = NULL;

	e->stats->syn_received++;
	if (e->rate != NULL && !rate_allow(e, &seg->tuple, now)) {
		drop(e, SG_R_SYN_RATE_LIMIT);
		return;
	}
	if (e->conf.cookies != SG_COOKIES_ALWAYS)
		h = table_lookup(e, seg, &hint);
	if (h != NULL) {
		/* A retransmitted SYN gets the same ISN; a new ISN on the
		 * same 4-tuple is a new attempt and replaces the old. */
		if (h->client_isn != seg->seq)
			entry_fill(e, h, seg, our_mss, now);
		entry_synack(e, h, now);
		return;
	}
	if (e->conf.cookies != SG_COOKIES_ALWAYS) {
		h = halfopen_insert_at(e->table, &seg->tuple, hint,
		    now->mono_ms);
		if (h != NULL) {
			e->stats->halfopen_inserted++;
			entry_fill(e, h, seg, our_mss, now);
			entry_synack(e, h, now);
			return;
		}
		if (e->conf.cookies == SG_COOKIES_NEVER) {
			drop(e, SG_R_TABLE_FULL);
			return;
		}
	}
	syn_cookie(e, seg, our_mss, now);
}

/* Hand a completed handshake to the worker. Returns 0, or the errno. */
static int
complete(struct sg_engine *e, struct sg_conn_params *p,
    const struct sg_segment *seg, bool via_cookie, uint32_t handshake_us,
    const struct sg_clock *now)
{
	p->tuple = seg->tuple;
	p->client_isn = seg->seq - 1;
	p->our_isn = seg->ack - 1;
	p->our_wscale = e->conf.our_wscale;
	p->peer_window = seg->window;
	p->our_window = e->conf.our_window;
	p->ts_next = tsval_now(e, &seg->tuple, now);
	if (p->optflags & SG_OPT_TS) {
		p->ts_recent = seg->opts.tsval;
		/* Never go back behind the TSval the client has seen. */
		if ((int32_t)(seg->opts.tsecr - p->ts_next) > 0)
			p->ts_next = seg->opts.tsecr;
		/* The kernel socket's clock runs in the established range,
		 * so the tap filter keeps its segments from us. */
		p->ts_next += SG_TS_EPOCH;
	}
	/*
	 * Data rides along to the new socket's receive queue. A FIN cannot be
	 * queued that way: then nothing is queued, and the client's
	 * retransmission of data and FIN reaches the kernel socket itself.
	 */
	if (!(seg->flags & SG_TCP_FIN)) {
		p->data = seg->payload;
		p->data_len = seg->payload_len;
	}
	if (e->ops.established(e->arg, p, via_cookie, handshake_us) == -1) {
		int err = errno;
		if (err == EADDRNOTAVAIL || err == EADDRINUSE)
			drop(e, SG_R_ALREADY_ESTABLISHED);
		else
			drop(e, SG_R_MATERIALIZE_FAILED);
		return err;
	}
	e->stats->established++;
	e->stats->early_data_bytes += p->data_len;
	return 0;
}

/* The slot and tag of a cookie handshake in the recent table. */
static struct recent_slot *
recent_slot(struct sg_engine *e, const struct sg_tuple *t, uint32_t client_isn,
    uint64_t *tag)
{
	uint64_t h = tuple_hash64(e, t, client_isn);

	*tag = h | 1;
	return &e->recent[(h >> 40) % RECENT_SLOTS];
}

/* An ACK without SYN: the third segment of a handshake, or not ours. */
static void
on_ack(struct sg_engine *e, const struct sg_segment *seg, uint16_t our_mss,
    const struct sg_clock *now, uint32_t hint)
{
	struct sg_conn_params p;
	struct sg_halfopen_entry *h = NULL;

	memset(&p, 0, sizeof(p));
	p.our_mss = our_mss;
	if (e->conf.cookies != SG_COOKIES_ALWAYS)
		h = table_lookup(e, seg, &hint);
	if (h != NULL && seg->ack == h->our_isn + 1 &&
	    seg->seq == h->client_isn + 1) {
		p.optflags = h->optflags;
		p.peer_wscale = h->wscale;
		p.peer_mss = h->mss;
		p.our_mss = h->our_mss;
		uint32_t us = ((uint32_t)now->mono_ms - h->created_ms) * 1000u;
		int err = complete(e, &p, seg, false, us, now);
		/* A refused materialization keeps the entry, so the client's
		 * retransmitted ACK can try again; a duplicate does not. */
		if (err == 0 || err == EADDRNOTAVAIL || err == EADDRINUSE) {
			if (err == 0)
				e->stats->halfopen_completed++;
			halfopen_delete(e->table, h);
		}
		return;
	}
	/*
	 * No entry, or one whose numbers do not match: in "auto" mode the
	 * client may be answering an earlier SYN-ACK that carried a cookie
	 * (sent while the table was full), so the cookie decides.
	 */
	if (h != NULL && e->conf.cookies == SG_COOKIES_NEVER) {
		drop(e, SG_R_ACK_BAD_SEQ);
		return;
	}
	if (e->conf.cookies == SG_COOKIES_NEVER) {
		drop(e, SG_R_ACK_NO_STATE);
		return;
	}

	struct sg_tcpopts dec;
	uint32_t counter = cookie_counter(now->real_s,
	    e->conf.cookie_period_s);
	if (!cookie_check(&e->secret, &seg->tuple, seg->seq, seg->ack,
		counter, &seg->opts, &dec)) {
		if (h != NULL) {
			drop(e, SG_R_ACK_BAD_SEQ);
			return;
		}
		e->stats->cookie_invalid++;
		drop(e, SG_R_COOKIE_INVALID);
		return;
	}
	uint64_t tag;
	struct recent_slot *rs = recent_slot(e, &seg->tuple, seg->seq - 1, &tag);
	if (rs->tag == tag &&
	    (uint32_t)now->mono_ms - rs->at_ms < RECENT_TTL_MS) {
		drop(e, SG_R_ALREADY_ESTABLISHED);
		return;
	}
	p.optflags = dec.flags & (SG_OPT_WSCALE | SG_OPT_SACKOK | SG_OPT_TS);
	p.peer_wscale = dec.wscale;
	p.peer_mss = peer_mss(&dec);
	int err = complete(e, &p, seg, true, 0, now);
	if (err == 0)
		e->stats->cookie_valid++;
	if (err == 0 || err == EADDRNOTAVAIL || err == EADDRINUSE) {
		rs->tag = tag;
		rs->at_ms = (uint32_t)now->mono_ms;
	}
	if (h != NULL && (err == 0 || err == EADDRNOTAVAIL || err == EADDRINUSE))
		halfopen_delete(e->table, h);
}

/* An RST clears a half-open entry if it is in the window (RFC 9293
 * 3.10.7.4, first check); anything else is not ours to act on. */
static void
on_rst(struct sg_engine *e, const struct sg_segment *seg, uint32_t hint)
{
	struct sg_halfopen_entry *h = NULL;

	if (e->conf.cookies != SG_COOKIES_ALWAYS)
		h = table_lookup(e, seg, &hint);
	if (h == NULL) {
		drop(e, SG_R_RST_NO_STATE);
		return;
	}
	if ((uint32_t)(seg->seq - (h->client_isn + 1)) >= e->conf.our_window) {
		drop(e, SG_R_RST_OUT_OF_WINDOW);
		return;
	}
	e->stats->halfopen_reset++;
	halfopen_delete(e->table, h);
}

uint32_t
engine_hint(struct sg_engine *e, const struct sg_segment *seg)
{
	uint32_t b;

	if (e->conf.cookies == SG_COOKIES_ALWAYS)
		return SG_HINT_NONE;
	b = halfopen_bucket(e->table, &seg->tuple);
	halfopen_prefetch(e->table, b, false);
	return b;
}

void
engine_prefetch(struct sg_engine *e, uint32_t hint)
{
	if (hint != SG_HINT_NONE && e->conf.cookies != SG_COOKIES_ALWAYS)
		halfopen_prefetch(e->table, hint, true);
}

void
engine_input(struct sg_engine *e, const struct sg_segment *seg,
    uint16_t our_mss, const struct sg_clock *now)
{
	engine_input_hinted(e, seg, our_mss, now, SG_HINT_NONE);
}

void
engine_input_hinted(struct sg_engine *e, const struct sg_segment *seg,
    uint16_t our_mss, const struct sg_clock *now, uint32_t hint)
{
	uint8_t fl = seg->flags;

	if (!listen_match(e, &seg->tuple)) {
		drop(e, SG_R_NOT_OUR_PORT);
		return;
	}
	if (fl & SG_TCP_RST) {
		on_rst(e, seg, hint);
	} else if (fl & SG_TCP_SYN) {
		/* A listener takes only a bare SYN (RFC 9293 3.10.7.2). */
		if (fl & (SG_TCP_ACK | SG_TCP_FIN))
			drop(e, SG_R_BAD_FLAGS);
		else
			on_syn(e, seg, our_mss, now, hint);
	} else if (fl & SG_TCP_ACK) {
		on_ack(e, seg, our_mss, now, hint);
	} else {
		drop(e, SG_R_BAD_FLAGS);
	}
}

/* Timer callback: retransmit, or count an expiry. */
static void
on_timer(struct sg_halfopen_entry *h, enum sg_timer_event ev, void *arg)
{
	struct sg_engine *e = arg;

	if (ev == HALFOPEN_RETRANSMIT) {
		/*
		 * A table more than half full means a flood: its entries are
		 * mostly spoofed, and retransmitting to them would multiply
		 * our sends (and what we reflect at the spoofed sources). A
		 * real client whose SYN-ACK was lost retransmits its SYN, and
		 * that is answered again; so, under pressure, only expiry
		 * runs, as a SYN cookie would behave.
		 */
		if (2 * (uint64_t)halfopen_count(e->table) >
		    halfopen_capacity(e->table)) {
			e->stats->synack_retransmit_skipped++;
			return;
		}
		e->stats->synack_retransmitted++;
		entry_synack(e, h, e->now);
	} else {
		e->stats->halfopen_expired++;
	}
}

void
engine_timers(struct sg_engine *e, const struct sg_clock *now)
{
	e->now = now;
	halfopen_run_timers_max(e->table, now->mono_ms, TIMER_BUDGET, on_timer,
	    e);
	e->now = NULL;
}

int64_t
engine_next_timer(const struct sg_engine *e, const struct sg_clock *now)
{
	return halfopen_next_timer(e->table, now->mono_ms);
}

uint32_t
engine_halfopen(const struct sg_engine *e)
{
	return halfopen_count(e->table);
}

size_t
engine_memory(const struct sg_engine *e)
{
	return sizeof(*e) + halfopen_memory(e->table) +
	    (e->rate != NULL ? RATE_SLOTS * sizeof(*e->rate) : 0);
}

/* Copy the settings (and the listen set they point at) into e. */
static void
engine_take_conf(struct sg_engine *e, const struct sg_engine_conf *conf)
{
	/* The rate table is made the first time a limit is set, and kept
	 * (memory known in advance: RATE_SLOTS slots). */
	if (conf->syn_rate > 0 && e->rate == NULL)
		e->rate = calloc(RATE_SLOTS, sizeof(*e->rate));
	if (conf->syn_rate == 0) {
		free(e->rate);
		e->rate = NULL;
	}
	unsigned n = conf->nlisten;

	if (n > SG_CONFIG_MAX_LISTEN)
		n = SG_CONFIG_MAX_LISTEN;
	e->conf = *conf;
	memcpy(e->listen, conf->listen, n * sizeof(e->listen[0]));
	e->conf.listen = e->listen;
	e->conf.nlisten = n;
	if (e->conf.cookie_period_s == 0)
		e->conf.cookie_period_s = COOKIE_PERIOD_DEFAULT;
}

void
engine_isn_key(const struct sg_cookie_secret *secret, struct sg_sipkey *k)
{
	k->k0 = siphash24(&secret->key, "synguard isn k0", 15);
	k->k1 = siphash24(&secret->key, "synguard isn k1", 15);
}

struct sg_engine *
engine_new(const struct sg_engine_conf *conf,
    const struct sg_cookie_secret *secret, const struct sg_engine_ops *ops,
    void *arg, struct sg_stats *stats)
{
	struct sg_engine *e = calloc(1, sizeof(*e));
	uint8_t tkey[16];

	if (e == NULL)
		return NULL;
	engine_take_conf(e, conf);
	e->secret = *secret;
	e->ops = *ops;
	e->arg = arg;
	e->stats = stats;
	engine_isn_key(secret, &e->isn_key);
	if (getrandom(tkey, sizeof(tkey), 0) != (ssize_t)sizeof(tkey))
		goto fail;
	struct sg_sipkey k;
	siphash_key_from_bytes(&k, tkey);
	e->table = halfopen_new(conf->queue_size, &k, &conf->timing);
	if (e->table == NULL || (conf->syn_rate > 0 && e->rate == NULL))
		goto fail;
	return e;
fail:
	halfopen_free(e->table);
	free(e->rate);
	free(e);
	return NULL;
}

void
engine_reconfigure(struct sg_engine *e, const struct sg_engine_conf *conf)
{
	engine_take_conf(e, conf);
	halfopen_set_timing(e->table, &conf->timing);
}

void
engine_free(struct sg_engine *e)
{
	if (e == NULL)
		return;
	halfopen_free(e->table);
	free(e->rate);
	free(e);
}
