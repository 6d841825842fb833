/*
 * secrets.c: the `secrets` file and `secret:NAME` values.  The file is read
 * once per conf_build(), only if no one but its owner may read it, and its
 * values are zeroed when the build ends; nothing here ever logs a value.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itsmd.h"

#define SECRET_PREFIX		"secret:"
#define SECRETS_MAX_SIZE	(1024 * 1024)

struct secret {
	char		*name;
	char		*value;		/* never logged */
	struct conf_pos	 pos;		/* file is secrets_file */
};

static struct secret	*secrets;
static size_t		 nsecrets;
static char		*secrets_file;	/* for positions and messages */
static bool		 secrets_loaded;

static void
zfree(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
secrets_clear(void)
{
	for (size_t i = 0; i < nsecrets; i++) {
		free(secrets[i].name);
		zfree(secrets[i].value);
	}
	free(secrets);
	secrets = NULL;
	nsecrets = 0;
	free(secrets_file);
	secrets_file = NULL;
	secrets_loaded = false;
}

/*
 * The whole file, after checking who may read it.  The check is on the open
 * descriptor, so the file cannot be swapped between the check and the read.
 */
static char *
secrets_read(const char *path, const struct conf_pos *pos, struct conf_err *err)
{
	struct stat	 st;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 r;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) == -1) {
		conf_error(err, pos, "cannot open secrets file '%s': %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		conf_error(err, pos, "cannot stat secrets file '%s': %s", path,
		    strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		conf_error(err, pos, "secrets file '%s' is not a regular file", path);
		close(fd);
		return NULL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		conf_error(err, pos, "secrets file '%s' is accessible by group or "
		    "others (mode %04o); refusing it: chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return NULL;
	}
	if (st.st_size > SECRETS_MAX_SIZE) {
		conf_error(err, pos, "secrets file '%s' is larger than 1 MiB", path);
		close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			conf_error(err, pos, "cannot read secrets file '%s': %s",
			    path, strerror(errno));
			explicit_bzero(buf, len);
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break;		/* shrank under us: take what is there */
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		conf_error(err, pos, "secrets file '%s' contains a NUL byte", path);
		explicit_bzero(buf, len);
		free(buf);
		return NULL;
	}
	return buf;
}

int
secrets_load(const char *path, const struct conf_pos *pos, struct conf_err *err)
{
	struct conf_tree	*t;
	char			*text;
	int			 before = err->count;

	secrets_clear();
	secrets_loaded = true;		/* even if broken: no "no secrets file" noise */
	if ((text = secrets_read(path, pos, err)) == NULL)
		return -1;
	t = conf_parse_string(path, text, err);
	explicit_bzero(text, strlen(text));
	free(text);
	if (t == NULL)
		return -1;
	secrets_file = xstrdup(path);
	secrets = xcalloc(t->root.nchildren, sizeof(*secrets));
	for (size_t i = 0; i < t->root.nchildren; i++) {
		struct conf_node	*n = &t->root.children[i];
		struct conf_pos		 at = { secrets_file, n->pos.line, n->pos.col };
		size_t			 j;

		if (n->block || n->nargs != 1) {
			conf_error(err, &at, "usage: NAME \"VALUE\" (secret '%s')",
			    n->name);
			continue;
		}
		for (j = 0; j < nsecrets; j++)
			if (strcmp(secrets[j].name, n->name) == 0)
				break;
		if (j < nsecrets) {
			conf_error(err, &at, "duplicate secret '%s' (first at line %d)",
			    n->name, secrets[j].pos.line);
			continue;
		}
		secrets[nsecrets].name = xstrdup(n->name);
		secrets[nsecrets].value = xstrdup(n->args[0]);
		secrets[nsecrets].pos = at;
		nsecrets++;
	}
	/* the tree holds copies of every value: wipe them before freeing */
	for (size_t i = 0; i < t->root.nchildren; i++)
		for (size_t j = 0; j < t->root.children[i].nargs; j++) {
			char	*a = t->root.children[i].args[j];

			explicit_bzero(a, strlen(a));
		}
	conf_tree_free(t);
	return err->count > before ? -1 : 0;
}

const char *
conf_secret(const char *value, const struct conf_pos *pos, struct conf_err *err)
{
	const char	*name;

	if (strncmp(value, SECRET_PREFIX, strlen(SECRET_PREFIX)) != 0)
		return value;
	name = value + strlen(SECRET_PREFIX);
	if (*name == '\0') {
		conf_error(err, pos, "'secret:' needs a name");
		return NULL;
	}
	if (!secrets_loaded) {
		conf_error(err, pos, "secret '%s' used but no 'secrets' file is "
		    "configured", name);
		return NULL;
	}
	for (size_t i = 0; i < nsecrets; i++)
		if (strcmp(secrets[i].name, name) == 0)
			return secrets[i].value;
	conf_error(err, pos, "unknown secret '%s'%s%s", name,
	    secrets_file ? " in " : "", secrets_file ? secrets_file : "");
	return NULL;
}
