/*
 * addheader: the reference milter for bench/milter/run.sh.
 *
 * It does the same work as sluice's built-in "headers" filter configured
 * with add = ["X-Filtered-By: sluice"]: at end of message it adds one
 * header, X-Filtered-By: sluice. Everything else is negotiated away
 * (SMFIP_NO* for every stage it does not use, SMFIP_NR_* where the MTA
 * offers them), so the MTA sends only what the filter needs and both
 * milters under test do comparable work.
 *
 * Usage: addheader SOCKET      e.g. inet:8891@127.0.0.1 or unix:/path
 *
 * Build: cc -O2 -o addheader addheader.c -lmilter -pthread
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#define HEADER_NAME "X-Filtered-By"
#define HEADER_VALUE "sluice"

/* Stages this filter never looks at: the MTA should not send them. */
static const unsigned long skip_steps =
	SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NORCPT |
	SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY | SMFIP_NOUNKNOWN |
	SMFIP_NODATA;

/* Stages for which the filter would not reply even if they were sent. */
static const unsigned long no_reply_steps =
	SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT |
	SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH | SMFIP_NR_BODY |
	SMFIP_NR_HDR;

/*
 * negotiate keeps only the header-adding action and asks the MTA to skip
 * every stage we can skip. Flags the MTA did not offer are dropped rather
 * than requested, as the protocol requires.
 */
static sfsistat
ah_negotiate(SMFICTX *ctx,
	unsigned long actions, unsigned long steps,
	unsigned long unused2, unsigned long unused3,
	unsigned long *want_actions, unsigned long *want_steps,
	unsigned long *want2, unsigned long *want3)
{
	(void)ctx;
	(void)unused2;
	(void)unused3;

	if ((actions & SMFIF_ADDHDRS) == 0)
		return SMFIS_REJECT; /* MTA cannot add headers: useless */

	*want_actions = SMFIF_ADDHDRS;
	*want_steps = steps & (skip_steps | no_reply_steps);
	*want2 = 0;
	*want3 = 0;
	return SMFIS_CONTINUE;
}

/* eom adds the one header, at the end of the header block. */
static sfsistat
ah_eom(SMFICTX *ctx)
{
	if (smfi_addheader(ctx, HEADER_NAME, HEADER_VALUE) != MI_SUCCESS)
		return SMFIS_TEMPFAIL;
	return SMFIS_CONTINUE;
}

static struct smfiDesc ah_desc = {
	"addheader",      /* xxfi_name */
	SMFI_VERSION,     /* xxfi_version */
	SMFIF_ADDHDRS,    /* xxfi_flags */
	NULL,             /* xxfi_connect */
	NULL,             /* xxfi_helo */
	NULL,             /* xxfi_envfrom */
	NULL,             /* xxfi_envrcpt */
	NULL,             /* xxfi_header */
	NULL,             /* xxfi_eoh */
	NULL,             /* xxfi_body */
	ah_eom,           /* xxfi_eom */
	NULL,             /* xxfi_abort */
	NULL,             /* xxfi_close */
	NULL,             /* xxfi_unknown */
	NULL,             /* xxfi_data */
	ah_negotiate,     /* xxfi_negotiate */
};

int
main(int argc, char **argv)
{
	const char *spec;

	if (argc != 2 || argv[1][0] == '\0') {
		fprintf(stderr, "usage: %s inet:PORT@127.0.0.1 | unix:/path\n",
			argc > 0 ? argv[0] : "addheader");
		return 2;
	}
	spec = argv[1];

	/* A stale socket file from an earlier run would make bind fail. */
	if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
		const char *path = strchr(spec, ':') + 1;
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			(void)unlink(path);
	}

	if (smfi_setconn((char *)spec) != MI_SUCCESS) {
		fprintf(stderr, "addheader: bad socket spec %s\n", spec);
		return 1;
	}
	if (smfi_setbacklog(128) != MI_SUCCESS)
		fprintf(stderr, "addheader: cannot set listen backlog\n");
	if (smfi_register(ah_desc) != MI_SUCCESS) {
		fprintf(stderr, "addheader: smfi_register failed\n");
		return 1;
	}
	if (smfi_opensocket(true) != MI_SUCCESS) {
		fprintf(stderr, "addheader: cannot listen on %s\n", spec);
		return 1;
	}
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
