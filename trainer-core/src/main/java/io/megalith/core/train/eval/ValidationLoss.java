package io.megalith.core.train.eval;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.data.Batch;
import io.megalith.core.data.TrainingData;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.Targets;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.tensor.Ops;

/**
 * A one-rank GPT's mean loss over the first validation batches of its data: the number training logs as val_loss
 * (family/gpt/GptParts.validationLoss, on the gathered model) and {@code megalith eval} prints for a saved one.
 */
public final class ValidationLoss {
    private ValidationLoss() {}

    /** Mean loss of {@code model} over validation batches 0 .. {@code batches}-1 of {@code batchSize} rows each. */
    public static double of(Gpt model, TrainingData data, int batches, int batchSize, NDManager manager) {
        if (batches < 1) {
            throw new IllegalArgumentException("batches must be at least 1, got " + batches);
        }
        double sum = 0;
        for (int i = 0; i < batches; i++) {
            Batch batch = data.validation(i, batchSize);
            try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                PtNDArray ids = Ops.longs(m, batch.inputs(), batch.size(), batch.seqLen());
                sum += model.loss(ids, Targets.of(m, batch.targets()), ForwardContext.inference(m)).getFloat();
            }
        }
        return sum / batches;
    }
}
