/**
 * A model as a chain of segments run forward and backward one at a time: {@link io.megalith.core.segment.Segment}
 * (one link: embedding, a block or half of one, the head and loss) and
 * {@link io.megalith.core.segment.SegmentedPass} (autograd per segment, hooks between segments, recomputation,
 * and the tensor-parallel collectives at segment boundaries). Models build segments; trainers and the pipeline
 * executor run them. Depends on {@code nn}, {@code tensor}, {@code tensorparallel} and the comm API only.
 */
package io.megalith.core.segment;
