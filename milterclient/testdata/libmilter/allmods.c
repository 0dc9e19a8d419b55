/*
 * allmods: a libmilter program for milterclient's interop tests
 * (libmilter_test.go). It calls every modification function of libmilter
 * and reports what it received, so the test can check both directions.
 *
 * Usage: allmods SOCKET [MODE]
 *   SOCKET  unix:/path, inet:PORT@127.0.0.1 or inet6:PORT@::1
 *   MODE    "plain" (default): every stage, a reply to each, no extension.
 *           "leadspc": asks for SMFIP_HDR_LEADSPC, SMFIP_NR_HDR (header
 *           callbacks return SMFIS_NOREPLY) and SMFIP_NOUNKNOWN.
 *
 * In every mode, option negotiation asks for per-stage macro lists with
 * smfi_setsymlist (the *_macros lists below); each callback records what it got
 * as an "X-Seen" header (macro=value, "-" when the macro is not defined),
 * added at end of message.
 *
 * Behaviour by envelope (exact texts are asserted by the test):
 *   MAIL <reply@test>     multi-line reply (smfi_setmlreply), reject
 *   MAIL <tempfail@test>  one-line reply (smfi_setreply), tempfail
 *   MAIL <slow@test>      at end of message: 3 x (0.5 s, smfi_progress),
 *                         then one header, X-Slow: done
 *   RCPT <unknown@test>   smfi_setreply 550 5.1.1, reject (this recipient)
 *   an unknown command    smfi_setreply 502 5.5.2 naming it, reject
 *   anything else         end of message makes every modification: add
 *                         header (also folded), insert header, change and
 *                         delete header, add recipient with and without
 *                         ESMTP arguments, delete the first recipient,
 *                         change sender with arguments, replace the body
 *                         with its upper-case copy (two smfi_replacebody
 *                         calls), quarantine.
 *
 * Build: cc -O2 -o allmods allmods.c -lmilter -pthread
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#define REC_MAX 64          /* records per message */
#define BODY_MAX (16 << 20) /* body bytes kept */

/* Per-connection state (smfi_setpriv). */
struct conn {
	char *connect; /* connect record */
	char *helo;    /* helo record */
	int msgs;      /* MAIL commands seen */
	int aborts;    /* xxfi_abort calls */
	/* the current message */
	int nrec;
	char *rec[REC_MAX];
	char *first_rcpt;
	char *subject;
	int headers;
	unsigned char *body;
	size_t len, cap;
	int slow;
};

/* Set once in main, read-only afterwards. */
static int leadspc_mode;

/* Macro lists asked for with smfi_setsymlist; the callbacks record these
 * and also a few the default lists hold and these do not, which must be
 * missing. */
static const char *connect_macros = "j {daemon_name} {client_addr}";
static const char *helo_macros = "{tls_version} {cipher}";
static const char *mail_macros = "i {mail_addr} {auth_authen}";
static const char *rcpt_macros = "{rcpt_addr} {rcpt_mailer}";
static const char *eom_macros = "i {auth_type}";

static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	va_start(ap, fmt);
	(void)vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* macros returns "name=value ..." for the space-separated names. */
static char *
macros(SMFICTX *ctx, const char *names)
{
	char buf[1024], name[64];
	size_t used = 0;
	const char *p = names;

	buf[0] = '\0';
	while (*p != '\0') {
		size_t n = strcspn(p, " ");
		const char *v;
		if (n > 0 && n < sizeof(name)) {
			memcpy(name, p, n);
			name[n] = '\0';
			v = smfi_getsymval(ctx, name);
			used += snprintf(buf + used, sizeof(buf) - used, "%s%s=%s",
				used > 0 ? " " : "", name, v != NULL ? v : "-");
			if (used >= sizeof(buf))
				break;
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	return strdup(buf);
}

static void
record(struct conn *c, char *s)
{
	if (s != NULL && c->nrec < REC_MAX)
		c->rec[c->nrec++] = s;
	else
		free(s);
}

static void
reset_message(struct conn *c)
{
	int i;

	for (i = 0; i < c->nrec; i++)
		free(c->rec[i]);
	c->nrec = 0;
	free(c->first_rcpt);
	c->first_rcpt = NULL;
	free(c->subject);
	c->subject = NULL;
	free(c->body);
	c->body = NULL;
	c->len = c->cap = 0;
	c->headers = 0;
	c->slow = 0;
}

static sfsistat
am_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
	unsigned long f2, unsigned long f3, unsigned long *pf0,
	unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	unsigned long want = 0;

	(void)f2;
	(void)f3;
	*pf0 = f0 & SMFI_CURR_ACTS; /* every action the MTA offers */
	if (leadspc_mode)
		want = SMFIP_HDR_LEADSPC | SMFIP_NR_HDR | SMFIP_NOUNKNOWN;
	if ((f1 & want) != want)
		return SMFIS_REJECT;
	*pf1 = want;
	*pf2 = 0;
	*pf3 = 0;
	if (smfi_setsymlist(ctx, SMFIM_CONNECT, (char *)connect_macros) != MI_SUCCESS ||
	    smfi_setsymlist(ctx, SMFIM_HELO, (char *)helo_macros) != MI_SUCCESS ||
	    smfi_setsymlist(ctx, SMFIM_ENVFROM, (char *)mail_macros) != MI_SUCCESS ||
	    smfi_setsymlist(ctx, SMFIM_ENVRCPT, (char *)rcpt_macros) != MI_SUCCESS ||
	    smfi_setsymlist(ctx, SMFIM_EOM, (char *)eom_macros) != MI_SUCCESS)
		return SMFIS_REJECT;
	return SMFIS_CONTINUE;
}

static sfsistat
am_connect(SMFICTX *ctx, char *host, struct sockaddr *sa)
{
	struct conn *c = calloc(1, sizeof(*c));
	char addr[INET6_ADDRSTRLEN] = "-", *m;
	int port = 0;

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	if (sa != NULL && sa->sa_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
		port = ntohs(in->sin_port);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
		port = ntohs(in6->sin6_port);
	}
	m = macros(ctx, "j {daemon_name} {client_addr} v _ {daemon_addr}");
	c->connect = xasprintf("connect %s %s %d %s", host, addr, port, m != NULL ? m : "");
	free(m);
	smfi_setpriv(ctx, c);
	return SMFIS_CONTINUE;
}

static sfsistat
am_helo(SMFICTX *ctx, char *name)
{
	struct conn *c = smfi_getpriv(ctx);
	char *m = macros(ctx, "{tls_version} {cipher} {cipher_bits}");

	free(c->helo);
	c->helo = xasprintf("helo %s %s", name, m != NULL ? m : "");
	free(m);
	return SMFIS_CONTINUE;
}

/* args joins an argv as "a b c". */
static char *
args(char **argv)
{
	char buf[1024];
	size_t used = 0;

	buf[0] = '\0';
	for (; argv != NULL && *argv != NULL && used < sizeof(buf); argv++)
		used += snprintf(buf + used, sizeof(buf) - used, "%s%s", used > 0 ? " " : "", *argv);
	return strdup(buf);
}

static sfsistat
am_envfrom(SMFICTX *ctx, char **argv)
{
	struct conn *c = smfi_getpriv(ctx);
	char *a = args(argv), *m = macros(ctx, "i {mail_addr} {auth_authen} {auth_type}");

	reset_message(c);
	c->msgs++;
	record(c, xasprintf("mail %s %s msg=%d aborts=%d", a, m, c->msgs, c->aborts));
	free(a);
	free(m);
	if (strcasecmp(argv[0], "<reply@test>") == 0) {
		smfi_setmlreply(ctx, "550", "5.7.1", "This sender is refused.",
			"Several lines explain why:", "see the policy page.", NULL);
		return SMFIS_REJECT;
	}
	if (strcasecmp(argv[0], "<tempfail@test>") == 0) {
		smfi_setreply(ctx, "451", "4.3.2", "Please try again later");
		return SMFIS_TEMPFAIL;
	}
	c->slow = strcasecmp(argv[0], "<slow@test>") == 0;
	return SMFIS_CONTINUE;
}

static sfsistat
am_envrcpt(SMFICTX *ctx, char **argv)
{
	struct conn *c = smfi_getpriv(ctx);
	char *a = args(argv), *m = macros(ctx, "{rcpt_addr} {rcpt_mailer} {rcpt_host}");

	record(c, xasprintf("rcpt %s %s", a, m));
	free(a);
	free(m);
	if (strcasecmp(argv[0], "<unknown@test>") == 0) {
		smfi_setreply(ctx, "550", "5.1.1", "No such user here");
		return SMFIS_REJECT;
	}
	if (c->first_rcpt == NULL)
		c->first_rcpt = strdup(argv[0]);
	return SMFIS_CONTINUE;
}

static sfsistat
am_data(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);
	char *m = macros(ctx, "i");

	record(c, xasprintf("data %s", m));
	free(m);
	return SMFIS_CONTINUE;
}

static sfsistat
am_header(SMFICTX *ctx, char *name, char *value)
{
	struct conn *c = smfi_getpriv(ctx);

	c->headers++;
	record(c, xasprintf("header %s:[%s]", name, value));
	if (strcasecmp(name, "Subject") == 0 && c->subject == NULL)
		c->subject = strdup(value);
	return leadspc_mode ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
am_eoh(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);

	record(c, xasprintf("eoh headers=%d", c->headers));
	return SMFIS_CONTINUE;
}

static sfsistat
am_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct conn *c = smfi_getpriv(ctx);

	if (c->len + len > BODY_MAX)
		return SMFIS_TEMPFAIL;
	if (c->len + len > c->cap) {
		size_t cap = c->cap > 0 ? c->cap : 65536;
		unsigned char *b;
		while (cap < c->len + len)
			cap *= 2;
		if ((b = realloc(c->body, cap)) == NULL)
			return SMFIS_TEMPFAIL;
		c->body = b;
		c->cap = cap;
	}
	memcpy(c->body + c->len, chunk, len);
	c->len += len;
	return SMFIS_CONTINUE;
}

/* seen adds the records as X-Seen headers. */
static int
seen(SMFICTX *ctx, struct conn *c)
{
	char *eom = macros(ctx, "i {auth_type} {mail_addr}");
	char *last = xasprintf("eom body=%lu %s", (unsigned long)c->len, eom);
	int i, rc = MI_SUCCESS;

	free(eom);
	if (smfi_addheader(ctx, "X-Seen", c->connect) != MI_SUCCESS ||
	    (c->helo != NULL && smfi_addheader(ctx, "X-Seen", c->helo) != MI_SUCCESS))
		rc = MI_FAILURE;
	for (i = 0; i < c->nrec && rc == MI_SUCCESS; i++)
		rc = smfi_addheader(ctx, "X-Seen", c->rec[i]);
	if (rc == MI_SUCCESS)
		rc = smfi_addheader(ctx, "X-Seen", last);
	free(last);
	return rc;
}

static int
slow_eom(SMFICTX *ctx)
{
	int i;

	for (i = 0; i < 3; i++) {
		usleep(500 * 1000);
		if (smfi_progress(ctx) != MI_SUCCESS)
			return MI_FAILURE;
	}
	return smfi_addheader(ctx, "X-Slow", "done");
}

/* modify makes every modification libmilter has. */
static int
modify(SMFICTX *ctx, struct conn *c)
{
	char *subject = xasprintf("[allmods] %s", c->subject != NULL ? c->subject : "");
	char *reason = xasprintf("allmods: held for review (message %d)", c->msgs);
	char *envid = xasprintf("RET=HDRS ENVID=allmods-%d", c->msgs);
	size_t i, half = c->len / 2;
	int ok;

	for (i = 0; i < c->len; i++)
		c->body[i] = (unsigned char)toupper(c->body[i]);
	ok = subject != NULL && reason != NULL && envid != NULL &&
	    smfi_addheader(ctx, "X-Folded", "first line\n\tsecond line") == MI_SUCCESS &&
	    smfi_insheader(ctx, 0, "X-Top", "inserted first") == MI_SUCCESS &&
	    smfi_insheader(ctx, 2, "X-Third", "inserted at index 2") == MI_SUCCESS &&
	    smfi_chgheader(ctx, "Subject", 1, subject) == MI_SUCCESS &&
	    smfi_chgheader(ctx, "X-Remove", 2, NULL) == MI_SUCCESS &&
	    smfi_addrcpt(ctx, "<added@example.org>") == MI_SUCCESS &&
	    smfi_addrcpt_par(ctx, "<added-par@example.org>",
		"NOTIFY=SUCCESS,DELAY ORCPT=rfc822;added-par@example.org") == MI_SUCCESS &&
	    (c->first_rcpt == NULL || smfi_delrcpt(ctx, c->first_rcpt) == MI_SUCCESS) &&
	    smfi_chgfrom(ctx, "<bounces@example.com>", envid) == MI_SUCCESS &&
	    (c->len == 0 || (smfi_replacebody(ctx, c->body, (int)half) == MI_SUCCESS &&
		smfi_replacebody(ctx, c->body + half, (int)(c->len - half)) == MI_SUCCESS)) &&
	    smfi_quarantine(ctx, reason) == MI_SUCCESS;
	free(subject);
	free(reason);
	free(envid);
	return ok ? MI_SUCCESS : MI_FAILURE;
}

static sfsistat
am_eom(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);
	int rc;

	if (c->slow)
		rc = slow_eom(ctx);
	else if ((rc = seen(ctx, c)) == MI_SUCCESS)
		rc = modify(ctx, c);
	reset_message(c);
	return rc == MI_SUCCESS ? SMFIS_CONTINUE : SMFIS_TEMPFAIL;
}

static sfsistat
am_abort(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);

	if (c != NULL) {
		c->aborts++;
		reset_message(c);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
am_unknown(SMFICTX *ctx, const char *cmd)
{
	char *text = xasprintf("Command not implemented: %s", cmd);

	smfi_setreply(ctx, "502", "5.5.2", text);
	free(text);
	return SMFIS_REJECT;
}

static sfsistat
am_close(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);

	if (c != NULL) {
		reset_message(c);
		free(c->connect);
		free(c->helo);
		free(c);
		smfi_setpriv(ctx, NULL);
	}
	return SMFIS_CONTINUE;
}

static struct smfiDesc am_desc = {
	"allmods",      /* xxfi_name */
	SMFI_VERSION,   /* xxfi_version */
	SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT |
	    SMFIF_ADDRCPT_PAR | SMFIF_DELRCPT | SMFIF_QUARANTINE |
	    SMFIF_CHGFROM | SMFIF_SETSYMLIST, /* xxfi_flags */
	am_connect,     /* xxfi_connect */
	am_helo,        /* xxfi_helo */
	am_envfrom,     /* xxfi_envfrom */
	am_envrcpt,     /* xxfi_envrcpt */
	am_header,      /* xxfi_header */
	am_eoh,         /* xxfi_eoh */
	am_body,        /* xxfi_body */
	am_eom,         /* xxfi_eom */
	am_abort,       /* xxfi_abort */
	am_close,       /* xxfi_close */
	am_unknown,     /* xxfi_unknown */
	am_data,        /* xxfi_data */
	am_negotiate,   /* xxfi_negotiate */
};

int
main(int argc, char **argv)
{
	const char *spec;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: allmods SOCKET [plain|leadspc]\n");
		return 2;
	}
	spec = argv[1];
	if (argc == 3 && strcmp(argv[2], "leadspc") == 0) {
		leadspc_mode = 1;
	} else if (argc == 3 && strcmp(argv[2], "plain") != 0) {
		fprintf(stderr, "allmods: unknown mode %s\n", argv[2]);
		return 2;
	}
	if (strncmp(spec, "unix:", 5) == 0) {
		struct stat st;
		if (lstat(spec + 5, &st) == 0 && S_ISSOCK(st.st_mode))
			(void)unlink(spec + 5);
	}
	if (smfi_setconn((char *)spec) != MI_SUCCESS || smfi_register(am_desc) != MI_SUCCESS) {
		fprintf(stderr, "allmods: cannot set up %s\n", spec);
		return 1;
	}
	if (smfi_opensocket(1) != MI_SUCCESS) {
		fprintf(stderr, "allmods: cannot listen on %s\n", spec);
		return 1;
	}
	fprintf(stderr, "allmods: listening on %s\n", spec);
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
