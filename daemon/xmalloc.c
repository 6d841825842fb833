/*
 * xmalloc.c: allocation that cannot fail silently.  Running out of memory
 * is fatal here; every caller may assume a valid pointer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itsmd.h"

void *
xmalloc(size_t n)
{
	void	*p = malloc(n ? n : 1);

	if (p == NULL)
		fatal("malloc %zu", n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void	*p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal("calloc %zu x %zu", n, size);
	return p;
}

void *
xreallocarray(void *old, size_t n, size_t size)
{
	void	*p;

	if (size && n > SIZE_MAX / size)
		fatalx("reallocarray: %zu x %zu overflows", n, size);
	if ((p = realloc(old, (n && size) ? n * size : 1)) == NULL)
		fatal("realloc %zu x %zu", n, size);
	return p;
}

/*
 * Room for one more in an array of n that grows only by appending, from
 * empty: it doubles when n is a power of two, so the capacity needs no
 * field of its own.  One realloc per element would copy the whole array
 * each time (a sanitizer's realloc always does): quadratic in a large conf.
 */
void *
xgrowarray(void *v, size_t n, size_t size)
{
	if ((n & (n - 1)) != 0)
		return v;
	return xreallocarray(v, n > 0 ? 2 * n : 1, size);
}

char *
xstrdup(const char *s)
{
	char	*p = strdup(s);

	if (p == NULL)
		fatal("strdup");
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) == -1)
		fatal("asprintf");
	va_end(ap);
	return p;
}
