/*
 * table.c: query results for people (aligned columns, one line per row,
 * control characters shown as blanks so no stored text can move the
 * terminal) or for programs (JSON written by PostgreSQL).
 */
#include <stdlib.h>
#include <string.h>

#include "itsmd.h"
#include "itsmctl.h"

/* Columns are padded by characters, not bytes, so UTF-8 names line up. */
static size_t
textwidth(const char *s)
{
	size_t	w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void
putcell(const char *s, size_t width, bool last)
{
	for (const char *p = s; *p != '\0'; p++)
		putchar((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p);
	if (!last)
		for (size_t w = textwidth(s); w < width + 2; w++)
			putchar(' ');
}

void
ctl_print_table(const PGresult *r, const char *const *head, int ncols)
{
	size_t	*width = xcalloc((size_t)ncols, sizeof(*width));
	int	 rows = PQntuples(r);

	for (int c = 0; c < ncols; c++) {
		width[c] = textwidth(head[c]);
		for (int i = 0; i < rows; i++)
			if (textwidth(PQgetvalue(r, i, c)) > width[c])
				width[c] = textwidth(PQgetvalue(r, i, c));
	}
	for (int c = 0; c < ncols; c++)
		putcell(head[c], width[c], c == ncols - 1);
	putchar('\n');
	for (int i = 0; i < rows; i++) {
		for (int c = 0; c < ncols; c++)
			putcell(PQgetvalue(r, i, c), width[c], c == ncols - 1);
		putchar('\n');
	}
	free(width);
}

void
ctl_query_print(struct ctl *ctl, const char *what, const char *sql, int n,
    const char *const *params, const char *const *head, int ncols, const char *none)
{
	PGconn		*conn = ctl_db(ctl);
	PGresult	*r;
	char		*q;

	if (ctl->json) {
		q = xasprintf("SELECT coalesce(json_agg(q), '[]') FROM (%s) q", sql);
		r = ctl_run(conn, what, q, n, params);
		printf("%s\n", PQgetvalue(r, 0, 0));
		free(q);
	} else {
		r = ctl_run(conn, what, sql, n, params);
		if (PQntuples(r) == 0)
			printf("%s\n", none);
		else
			ctl_print_table(r, head, ncols);
	}
	PQclear(r);
}
