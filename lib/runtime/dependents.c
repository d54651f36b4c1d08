/* Objects that hold device memory through an owner (graphs in a context,
 * optimizers on a graph) register here, so that destroying the owner first
 * makes them let go of that memory instead of leaving dangling pointers:
 * destroying in any order is safe. */
#include "runtime.h"

#include <stdlib.h>

bool nncl_dependents_add(nncl_dependents *d, void *obj, void (*orphan)(void *obj)) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        struct nncl_dependent *grown = realloc(d->items, cap * sizeof *grown);
        if (!grown) return false;
        d->items = grown;
        d->cap = cap;
    }
    d->items[d->n++] = (struct nncl_dependent){obj, orphan};
    return true;
}

void nncl_dependents_remove(nncl_dependents *d, const void *obj) {
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].obj == obj) {
            d->items[i] = d->items[--d->n];
            return;
        }
}

void nncl_dependents_orphan_all(nncl_dependents *d) {
    /* An orphan callback may not touch the list: take it first. */
    struct nncl_dependent *items = d->items;
    size_t n = d->n;
    *d = (nncl_dependents){0};
    for (size_t i = 0; i < n; i++)
        items[i].orphan(items[i].obj);
    free(items);
}
