/**
 * Pruning: gradual magnitude pruning (Zhu and Gupta, 2017) of the weight matrices of a model's transformer layers
 * ({@link io.megalith.core.prune.MagnitudeMask}: which tensors, which elements), on the cubic schedule of
 * {@link io.megalith.core.prune.PruneSchedule}, enforced after every optimizer step and checkpointed beside the
 * optimizer state by {@link io.megalith.core.prune.Pruning}, whatever the family: the training loop applies it from
 * outside, the models know nothing of it.
 */
package io.megalith.core.prune;
