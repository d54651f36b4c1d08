/* Learning-rate schedules in closed form, PyTorch's StepLR, MultiStepLR,
 * ExponentialLR and CosineAnnealingLR, each optionally times LinearLR's
 * warm-up factor (as ChainedScheduler combines them). */
#include "train.h"

#include <math.h>

nncl_status nncl_optimizer_set_schedule(nncl_optimizer *opt, const nncl_schedule *schedule) {
    if (!opt || !schedule)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_optimizer_set_schedule: NULL argument");
    nncl_schedule s = *schedule;
    const char *why = NULL;
    if ((unsigned)s.kind > NNCL_SCHEDULE_COSINE)
        why = "unknown kind";
    else if (!isfinite(s.gamma) || !isfinite(s.eta_min) || !isfinite(s.warmup_start_factor))
        why = "gamma, eta_min and warmup_start_factor must be finite";
    else if (s.kind == NNCL_SCHEDULE_STEP && s.step_size <= 0)
        why = "step needs step_size > 0";
    else if (s.kind == NNCL_SCHEDULE_MULTI_STEP &&
             (s.n_milestones < 1 || s.n_milestones > NNCL_MAX_MILESTONES))
        why = "multi-step needs 1 to 16 milestones";
    else if (s.kind == NNCL_SCHEDULE_EXPONENTIAL && s.gamma <= 0)
        why = "exponential needs gamma > 0";
    else if (s.kind == NNCL_SCHEDULE_COSINE && s.t_max <= 0)
        why = "cosine needs t_max > 0";
    else if (s.warmup < 0 || s.gamma < 0 || s.warmup_start_factor < 0 || s.warmup_start_factor > 1)
        why = "warmup, gamma and warmup_start_factor must be >= 0 (the factor at most 1)";
    for (int32_t i = 1; !why && s.kind == NNCL_SCHEDULE_MULTI_STEP && i < s.n_milestones; i++)
        if (s.milestones[i] <= s.milestones[i - 1]) why = "milestones must increase";
    if (why) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_optimizer_set_schedule: %s", why);
    if (s.gamma == 0) s.gamma = 0.1f;
    if (s.warmup_start_factor == 0) s.warmup_start_factor = 1.0f / 3.0f;
    opt->schedule = s;
    opt->schedule_pos = 0;
    return NNCL_OK;
}

void nncl_optimizer_schedule_step(nncl_optimizer *opt) {
    if (opt) opt->schedule_pos++;
}

float nncl_optimizer_lr(const nncl_optimizer *opt) {
    if (!opt) return 0.0f;
    const nncl_schedule *s = &opt->schedule;
    double e = (double)opt->schedule_pos, lr = opt->base_lr;
    switch (s->kind) {
    case NNCL_SCHEDULE_STEP:
        lr *= pow(s->gamma, floor(e / (double)s->step_size));
        break;
    case NNCL_SCHEDULE_MULTI_STEP: {
        int passed = 0;
        for (int32_t i = 0; i < s->n_milestones; i++)
            passed += s->milestones[i] <= opt->schedule_pos;
        lr *= pow(s->gamma, passed);
        break;
    }
    case NNCL_SCHEDULE_EXPONENTIAL:
        lr *= pow(s->gamma, e);
        break;
    case NNCL_SCHEDULE_COSINE:
        lr = s->eta_min +
             (lr - s->eta_min) * (1.0 + cos(3.14159265358979323846 * e / (double)s->t_max)) / 2.0;
        break;
    case NNCL_SCHEDULE_CONSTANT:
        break;
    }
    if (s->warmup > 0) {
        double done = e < (double)s->warmup ? e : (double)s->warmup;
        lr *= s->warmup_start_factor + (1.0 - s->warmup_start_factor) * done / (double)s->warmup;
    }
    return (float)lr;
}
