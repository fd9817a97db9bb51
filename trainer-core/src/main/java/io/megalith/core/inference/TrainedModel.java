package io.megalith.core.inference;

import io.megalith.core.config.MegalithConfig;
import java.io.IOException;
import java.io.PrintStream;

/**
 * A trained run of any model family, loaded on one rank from its latest complete checkpoint (whatever layout wrote
 * it: checkpoints hold global tensors), as its family loads it ({@code ModelFamily.loadTrained}). What a family's
 * model does with a request is its own: the GPT samples text ({@link TrainedGpt}), the encoder-decoder decodes
 * source strings ({@link TrainedSeq2Seq}).
 */
public interface TrainedModel extends AutoCloseable {
    /** The run's saved config. */
    MegalithConfig config();

    /** The step of the checkpoint it was loaded from. */
    long step();

    /** {@code megalith generate}: writes what the model makes of {@code request} to {@code out}. */
    void generate(GenerateRequest request, PrintStream out) throws IOException;

    @Override
    void close();
}
