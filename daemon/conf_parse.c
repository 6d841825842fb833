/*
 * conf_parse.c: conf text to a tree of directives (struct conf_tree), with
 * `include` expanded in place, and the error sink every conf stage reports
 * through.  Reads files; knows no key names except `include`.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itsmd.h"

/* conf_lex.c, private to the conf files; token kinds are described there. */
struct conf_lexer;
struct conf_lexer *conf_lex_new(const char *, const char *, size_t,
    struct conf_err *);
int	conf_lex_next(struct conf_lexer *, const char **, struct conf_pos *);
void	conf_lex_free(struct conf_lexer *);

/*
 * Limits that keep any input, hostile or fuzzed, from exhausting the stack
 * or memory: recursion is bounded by MAX_NEST blocks plus MAX_INCLUDE files.
 */
#define MAX_NEST	16
#define MAX_INCLUDE	16
#define MAX_FILE_SIZE	(16 * 1024 * 1024)
#define MAX_FILES	10000
#define MAX_STATEMENTS	1000000

struct parser {
	struct conf_tree	*tree;
	struct conf_err		*err;
	char			*stack[MAX_INCLUDE + 1];	/* files being read */
	int			 nstack;
	size_t			 nfiles;
	size_t			 nstatements;
};

/* One file being read: its lexer and a one-token pushback for '}'. */
struct source {
	struct conf_lexer	*lx;
	const char		*file;
	bool			 pushed;
	struct conf_pos		 pushpos;
};

static int	parse_file(struct parser *, const char *, const struct conf_pos *,
		    struct conf_node *, int);

void
conf_error(struct conf_err *err, const struct conf_pos *pos, const char *fmt,
    ...)
{
	char	msg[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (pos == NULL || pos->file == NULL)
		log_warnx("%s", msg);
	else if (pos->line <= 0)
		log_warnx("%s: %s", pos->file, msg);
	else
		log_warnx("%s:%d:%d: %s", pos->file, pos->line, pos->col, msg);
	err->count++;
}

static void
node_free(struct conf_node *n)
{
	size_t	i;

	free(n->name);
	for (i = 0; i < n->nargs; i++)
		free(n->args[i]);
	free(n->args);
	free(n->argpos);
	for (i = 0; i < n->nchildren; i++)
		node_free(&n->children[i]);
	free(n->children);
}

void
conf_tree_free(struct conf_tree *t)
{
	size_t	i;

	if (t == NULL)
		return;
	node_free(&t->root);
	for (i = 0; i < t->nfiles; i++)
		free(t->files[i]);
	free(t->files);
	free(t);
}

/* Arrays grow by doubling; the capacity is implied by the count. */
static bool
need_grow(size_t n)
{
	return (n & (n - 1)) == 0;
}

static void
add_child(struct conf_node *parent, struct conf_node *child)
{
	if (need_grow(parent->nchildren))
		parent->children = xreallocarray(parent->children,
		    parent->nchildren ? parent->nchildren * 2 : 1,
		    sizeof(*parent->children));
	parent->children[parent->nchildren++] = *child;
}

static void
add_arg(struct conf_node *n, const char *text, const struct conf_pos *pos)
{
	if (need_grow(n->nargs)) {
		size_t	cap = n->nargs ? n->nargs * 2 : 1;

		n->args = xreallocarray(n->args, cap, sizeof(*n->args));
		n->argpos = xreallocarray(n->argpos, cap, sizeof(*n->argpos));
	}
	n->args[n->nargs] = xstrdup(text);
	n->argpos[n->nargs++] = *pos;
}

/* The tree keeps one copy of each file name; conf_pos.file points at it. */
static const char *
intern_file(struct conf_tree *t, const char *path)
{
	size_t	i;

	for (i = 0; i < t->nfiles; i++)
		if (strcmp(t->files[i], path) == 0)
			return t->files[i];
	if (need_grow(t->nfiles))
		t->files = xreallocarray(t->files, t->nfiles ? t->nfiles * 2 : 1,
		    sizeof(*t->files));
	t->files[t->nfiles] = xstrdup(path);
	return t->files[t->nfiles++];
}

static int
next_token(struct source *src, const char **text, struct conf_pos *pos)
{
	if (src->pushed) {
		src->pushed = false;
		*text = NULL;
		*pos = src->pushpos;
		return '}';
	}
	return conf_lex_next(src->lx, text, pos);
}

static int	parse_block(struct parser *, struct source *, struct conf_node *,
		    int, const char *, const struct conf_pos *);

/* "conf/a.conf" -> "conf", "a.conf" -> ".", "/a.conf" -> "/" */
static char *
dir_of(const char *path)
{
	const char	*slash = strrchr(path, '/');
	char		*dir;

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	dir = xstrdup(path);
	dir[slash - path] = '\0';
	return dir;
}

/* The directory part of a glob pattern must match itself literally. */
static char *
glob_escape(const char *s)
{
	char	*out = xmalloc(strlen(s) * 2 + 1), *o = out;

	for (; *s != '\0'; s++) {
		if (strchr("*?[]\\", *s) != NULL)
			*o++ = '\\';
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

static void
do_include(struct parser *ps, struct source *src, const struct conf_node *n,
    struct conf_node *parent, int depth)
{
	const char	*pattern = n->args[0];
	const struct conf_pos *apos = &n->argpos[0];
	char		*dir, *edir, *path, *epath;
	glob_t		 g;
	size_t		 i;
	int		 rc;

	if (*pattern == '\0') {
		conf_error(ps->err, apos, "empty include path");
		return;
	}
	dir = dir_of(src->file);
	if (pattern[0] == '/' || strcmp(dir, ".") == 0) {
		path = xstrdup(pattern);
		epath = xstrdup(pattern);
	} else {
		edir = glob_escape(dir);
		path = xasprintf("%s/%s", strcmp(dir, "/") ? dir : "", pattern);
		epath = xasprintf("%s/%s", strcmp(dir, "/") ? edir : "", pattern);
		free(edir);
	}
	free(dir);

	/* A pattern may match nothing (an empty conf.d); a plain name must exist. */
	if (strpbrk(pattern, "*?[") == NULL)
		parse_file(ps, path, apos, parent, depth);
	else {
		memset(&g, 0, sizeof(g));
		rc = glob(epath, 0, NULL, &g);
		if (rc == 0) {
			for (i = 0; i < g.gl_pathc; i++)
				parse_file(ps, g.gl_pathv[i], apos, parent,
				    depth);
		} else if (rc != GLOB_NOMATCH)
			conf_error(ps->err, apos, "include '%s': %s", pattern,
			    rc == GLOB_NOSPACE ? "out of memory" :
			    "cannot read directory");
		globfree(&g);
	}
	free(path);
	free(epath);
}

/*
 * One statement, its first word already read: words up to ';', newline,
 * '}' (left for the enclosing block) or a '{' that opens its block.
 */
static int
parse_statement(struct parser *ps, struct source *src, struct conf_node *parent,
    int depth, const char *name, const struct conf_pos *pos)
{
	struct conf_node	 n;
	struct conf_pos		 tpos;
	const char		*text;
	int			 t;

	if (++ps->nstatements > MAX_STATEMENTS) {
		conf_error(ps->err, pos, "more than %d statements", MAX_STATEMENTS);
		return -1;
	}
	memset(&n, 0, sizeof(n));
	n.name = xstrdup(name);
	n.pos = *pos;
	for (;;) {
		t = next_token(src, &text, &tpos);
		if (t == 'w') {
			add_arg(&n, text, &tpos);
			continue;
		}
		if (t == '}') {
			src->pushed = true;
			src->pushpos = tpos;
		} else if (t == '{') {
			if (depth >= MAX_NEST) {
				conf_error(ps->err, &tpos,
				    "blocks nested deeper than %d", MAX_NEST);
				node_free(&n);
				return -1;
			}
			n.block = true;
			if (parse_block(ps, src, &n, depth + 1, n.name,
			    &tpos) == -1) {
				node_free(&n);
				return -1;
			}
		} else if (t == -1) {
			node_free(&n);
			return -1;
		}
		break;
	}

	if (strcmp(n.name, "include") == 0) {
		if (n.block)
			conf_error(ps->err, &n.pos, "'include' takes no block");
		else if (n.nargs != 1)
			conf_error(ps->err, &n.pos,
			    "'include' takes 1 argument (got %zu)", n.nargs);
		else
			do_include(ps, src, &n, parent, depth);
		node_free(&n);
		return 0;
	}
	add_child(parent, &n);
	return 0;
}

/*
 * Statements until the '}' that closes the block opened by `opener` at
 * `brace`, or until the end of the file when opener is NULL.
 */
static int
parse_block(struct parser *ps, struct source *src, struct conf_node *parent,
    int depth, const char *opener, const struct conf_pos *brace)
{
	struct conf_pos	 pos;
	const char	*text;

	for (;;) {
		switch (next_token(src, &text, &pos)) {
		case -1:
			return -1;
		case 0:
			if (opener == NULL)
				return 0;
			conf_error(ps->err, brace, "'{' of '%s' is never closed",
			    opener);
			return -1;
		case ';':
			break;
		case '}':
			if (opener != NULL)
				return 0;
			conf_error(ps->err, &pos, "unexpected '}'");
			return -1;
		case '{':
			conf_error(ps->err, &pos, "'{' without a directive before "
			    "it on the same line");
			return -1;
		default:
			if (parse_statement(ps, src, parent, depth, text,
			    &pos) == -1)
				return -1;
		}
	}
}

/* Whole file into memory, NUL-terminated; NULL after reporting why. */
static char *
read_file(struct parser *ps, const char *path, const struct conf_pos *from,
    size_t *lenp)
{
	struct conf_pos	 top = { NULL, 0, 0 };	/* message names the file */
	struct stat	 st;
	char		*buf = NULL;
	size_t		 len = 0, cap;
	ssize_t		 r;
	int		 fd;

	if (from == NULL)
		from = &top;
	/* O_NONBLOCK so that a FIFO named by a glob cannot hang the open. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) == -1) {
		conf_error(ps->err, from, "cannot open '%s': %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		conf_error(ps->err, from, "cannot stat '%s': %s", path,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		conf_error(ps->err, from, "'%s' is not a regular file", path);
		goto fail;
	}
	if (st.st_size > MAX_FILE_SIZE)
		goto toolarge;
	cap = (size_t)st.st_size + 1;
	buf = xmalloc(cap + 1);
	/* The size may change under us: read to EOF, within the limit. */
	for (;;) {
		if (len == cap) {
			if (cap > MAX_FILE_SIZE)
				goto toolarge;
			cap *= 2;
			buf = xreallocarray(buf, cap + 1, 1);
		}
		r = read(fd, buf + len, cap - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			conf_error(ps->err, from, "cannot read '%s': %s", path,
			    strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > MAX_FILE_SIZE)
		goto toolarge;
	close(fd);
	buf[len] = '\0';
	*lenp = len;
	return buf;

 toolarge:
	conf_error(ps->err, from, "'%s' is larger than %d MiB", path,
	    MAX_FILE_SIZE / (1024 * 1024));
 fail:
	free(buf);
	close(fd);
	return NULL;
}

static void
parse_text(struct parser *ps, const char *file, const char *text, size_t len,
    struct conf_node *parent, int depth)
{
	struct source	src;

	memset(&src, 0, sizeof(src));
	src.file = file;
	src.lx = conf_lex_new(file, text, len, ps->err);
	/* A syntax error ends this file only; the includer goes on. */
	(void)parse_block(ps, &src, parent, depth, NULL, NULL);
	conf_lex_free(src.lx);
}

/* Reads `path` into `parent`, checking the include limits and cycles. */
static int
parse_file(struct parser *ps, const char *path, const struct conf_pos *from,
    struct conf_node *parent, int depth)
{
	struct conf_pos	 top = { NULL, 0, 0 };	/* message names the file */
	char		*text, *real;
	size_t		 len;
	int		 i;

	if (from == NULL)
		from = &top;
	if (ps->nstack > MAX_INCLUDE) {
		conf_error(ps->err, from, "includes nested deeper than %d",
		    MAX_INCLUDE);
		return -1;
	}
	if (++ps->nfiles > MAX_FILES) {
		conf_error(ps->err, from, "more than %d files included",
		    MAX_FILES);
		return -1;
	}
	if ((real = realpath(path, NULL)) == NULL)
		real = xstrdup(path);	/* read_file says why */
	for (i = 0; i < ps->nstack; i++)
		if (strcmp(ps->stack[i], real) == 0) {
			conf_error(ps->err, from, "include cycle: '%s' is "
			    "already being read", path);
			free(real);
			return -1;
		}
	if ((text = read_file(ps, path, from, &len)) == NULL) {
		free(real);
		return -1;
	}
	ps->stack[ps->nstack++] = real;
	parse_text(ps, intern_file(ps->tree, path), text, len, parent, depth);
	free(ps->stack[--ps->nstack]);
	free(text);
	return 0;
}

static struct conf_tree *
tree_new(void)
{
	struct conf_tree	*t = xcalloc(1, sizeof(*t));

	t->root.block = true;
	return t;
}

struct conf_tree *
conf_parse_file(const char *path, struct conf_err *err)
{
	struct parser	ps;
	int		before = err->count;

	memset(&ps, 0, sizeof(ps));
	ps.tree = tree_new();
	ps.err = err;
	parse_file(&ps, path, NULL, &ps.tree->root, 0);
	if (err->count > before) {
		conf_tree_free(ps.tree);
		return NULL;
	}
	return ps.tree;
}

/* For tests and fuzzing: `name` stands for the file, includes are relative to it. */
struct conf_tree *
conf_parse_string(const char *name, const char *text, struct conf_err *err)
{
	struct parser	ps;
	int		before = err->count;

	memset(&ps, 0, sizeof(ps));
	ps.tree = tree_new();
	ps.err = err;
	ps.nfiles = 1;
	if ((ps.stack[0] = realpath(name, NULL)) == NULL)
		ps.stack[0] = xstrdup(name);
	ps.nstack = 1;
	parse_text(&ps, intern_file(ps.tree, name), text, strlen(text),
	    &ps.tree->root, 0);
	free(ps.stack[--ps.nstack]);
	if (err->count > before) {
		conf_tree_free(ps.tree);
		return NULL;
	}
	return ps.tree;
}
