package io.megalith.launcher.spark;

import java.io.Serializable;

/**
 * What one rank of a {@link BarrierJob} does. It is serialized on the driver and run once per rank in a Spark
 * task, so it must be {@link Serializable} along with everything it captures; a lambda assigned to this type is.
 *
 * @param <R> the rank's result, sent back to the driver (serializable, and small: it travels in the task result)
 */
@FunctionalInterface
public interface RankTask<R> extends Serializable {
    /** Runs rank {@code ctx.rank()}; an exception fails the whole barrier stage, hence the job. */
    R run(RankContext ctx) throws Exception;
}
