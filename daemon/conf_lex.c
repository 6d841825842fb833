/*
 * conf_lex.c: splits conf text into words, braces and statement ends, each
 * with its line and column.  Only conf_parse.c uses it (its prototypes are
 * repeated there); it never touches the filesystem.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itsmd.h"

#define CONF_TOKEN_MAX	4096

/*
 * Token kinds as characters, so that conf_parse.c needs no shared enum:
 * 'w' word or quoted string, '{', '}', ';' (semicolon or newline),
 * 0 end of input, -1 error (already reported).
 */
struct conf_lexer {
	const char	*file;		/* interned by the caller */
	const char	*p, *end;
	int		 line, col;
	bool		 failed;
	struct conf_err	*err;
	char		 tok[CONF_TOKEN_MAX + 1];
};

struct conf_lexer *conf_lex_new(const char *, const char *, size_t,
    struct conf_err *);
int	conf_lex_next(struct conf_lexer *, const char **, struct conf_pos *);
void	conf_lex_free(struct conf_lexer *);

struct conf_lexer *
conf_lex_new(const char *file, const char *text, size_t len,
    struct conf_err *err)
{
	struct conf_lexer	*lx = xcalloc(1, sizeof(*lx));

	lx->file = file;
	lx->p = text;
	lx->end = text + len;
	lx->line = 1;
	lx->col = 1;
	lx->err = err;
	return lx;
}

void
conf_lex_free(struct conf_lexer *lx)
{
	free(lx);
}

static void
advance(struct conf_lexer *lx)
{
	if (*lx->p == '\n') {
		lx->line++;
		lx->col = 1;
	} else
		lx->col++;
	lx->p++;
}

static struct conf_pos
here(const struct conf_lexer *lx)
{
	struct conf_pos	pos = { lx->file, lx->line, lx->col };

	return pos;
}

/* Stops the lexer: after an error the rest of the file means nothing. */
static int
lex_fail(struct conf_lexer *lx, const struct conf_pos *pos, const char *msg)
{
	conf_error(lx->err, pos, "%s", msg);
	lx->failed = true;
	return -1;
}

/* Bytes that may not appear anywhere, not even in a string or a comment. */
static int
check_byte(struct conf_lexer *lx)
{
	unsigned char	 c = (unsigned char)*lx->p;
	struct conf_pos	 pos;
	char		 msg[64];

	if (c >= 0x20 && c != 0x7f)
		return 0;
	if (c == '\n' || c == '\t' || c == '\r')
		return 0;
	pos = here(lx);
	if (c == 0)
		return lex_fail(lx, &pos, "NUL byte in input");
	snprintf(msg, sizeof(msg), "control character 0x%02x in input", c);
	return lex_fail(lx, &pos, msg);
}

/* A word ends at a blank, a newline or one of the characters { } ; # " */
static bool
word_end(char c)
{
	return c != '\0' && strchr(" \t\r\n{};#\"", c) != NULL;
}

static int
lex_string(struct conf_lexer *lx, struct conf_pos *pos)
{
	size_t	n = 0;
	char	c, msg[80];

	advance(lx);	/* the opening quote */
	for (;;) {
		if (lx->p == lx->end || *lx->p == '\n')
			return lex_fail(lx, pos, "unterminated string");
		if (check_byte(lx) == -1)
			return -1;
		c = *lx->p;
		if (c == '"')
			break;
		if (c == '\\') {
			struct conf_pos	epos = here(lx);

			advance(lx);
			if (lx->p == lx->end || *lx->p == '\n')
				return lex_fail(lx, pos,
				    "unterminated string");
			if (check_byte(lx) == -1)
				return -1;
			switch (*lx->p) {
			case '"':
			case '\\':
				c = *lx->p;
				break;
			case 'n':
				c = '\n';
				break;
			default:
				snprintf(msg, sizeof(msg), "unknown escape "
				    "'\\%c' in string (use \\\", \\\\ or \\n)",
				    *lx->p);
				return lex_fail(lx, &epos, msg);
			}
		}
		if (n == CONF_TOKEN_MAX)
			return lex_fail(lx, pos,
			    "string too long (limit 4096 bytes)");
		lx->tok[n++] = c;
		advance(lx);
	}
	advance(lx);	/* the closing quote */
	lx->tok[n] = '\0';
	if (lx->p != lx->end && check_byte(lx) == -1)
		return -1;
	if (lx->p != lx->end && !word_end(*lx->p)) {
		struct conf_pos	apos = here(lx);

		return lex_fail(lx, &apos, "missing blank after string");
	}
	return 'w';
}

static int
lex_word(struct conf_lexer *lx, struct conf_pos *pos)
{
	size_t	n = 0;

	while (lx->p != lx->end && !word_end(*lx->p)) {
		if (check_byte(lx) == -1)
			return -1;
		if (n == CONF_TOKEN_MAX)
			return lex_fail(lx, pos,
			    "word too long (limit 4096 bytes)");
		lx->tok[n++] = *lx->p;
		advance(lx);
	}
	lx->tok[n] = '\0';
	if (lx->p != lx->end && *lx->p == '"') {
		struct conf_pos	qpos = here(lx);

		return lex_fail(lx, &qpos, "quote inside a word");
	}
	return 'w';
}

/*
 * The next token: its kind (see above), its text for 'w' (valid until the
 * next call) and where it starts.
 */
int
conf_lex_next(struct conf_lexer *lx, const char **text, struct conf_pos *pos)
{
	char	c;

	*text = NULL;
	if (lx->failed)
		return -1;
	for (;;) {
		if (lx->p == lx->end) {
			*pos = here(lx);
			return 0;
		}
		if (check_byte(lx) == -1)
			return -1;
		c = *lx->p;
		if (c == ' ' || c == '\t' || c == '\r') {
			advance(lx);
			continue;
		}
		if (c == '#') {
			while (lx->p != lx->end && *lx->p != '\n') {
				if (check_byte(lx) == -1)
					return -1;
				advance(lx);
			}
			continue;
		}
		break;
	}
	*pos = here(lx);
	switch (c) {
	case '\n':
	case ';':
		advance(lx);
		return ';';
	case '{':
	case '}':
		advance(lx);
		return c;
	case '"':
		*text = lx->tok;
		return lex_string(lx, pos);
	default:
		*text = lx->tok;
		return lex_word(lx, pos);
	}
}
