package io.megalith.core.family.vit;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.data.images.ImageData;
import io.megalith.core.model.vit.Vit;
import io.megalith.core.model.vit.VitConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import java.util.LinkedHashMap;
import java.util.Map;

/** Held-out cross-entropy and accuracy of a one-rank ViT over the first {@code images} held-out images. */
public record VitEvaluation(double loss, double accuracy, long images) {
    /** The metrics.jsonl fields: val_loss, accuracy, eval_images. */
    public Map<String, Object> record() {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("val_loss", loss);
        r.put("accuracy", accuracy);
        r.put("eval_images", images);
        return r;
    }

    /** Evaluates a one-rank copy of {@code full} in chunks of {@code chunk} images (no dropout, no gradients). */
    public static VitEvaluation of(VitConfig cfg, ImageData data, long images, int chunk, Map<String, HostTensor> full,
            NDManager manager) {
        Vit one = new Vit(cfg);
        double lossSum = 0;
        long hits = 0;
        try (ParameterStore store = new ParameterStore(one, manager, 0)) {
            store.load(full);
            JniUtils.setGradMode(false);
            for (long from = 0; from < images; from += chunk) {
                ImageBatch b = data.heldOut(from, (int) Math.min(chunk, images - from));
                long[] labels = new long[b.rows()];
                for (int i = 0; i < labels.length; i++) {
                    labels[i] = b.labels()[i];
                }
                try (NDScope scope = new NDScope(); NDManager mm = manager.newSubManager()) {
                    ForwardContext ctx = ForwardContext.inference(mm);
                    PtNDArray logits = one.logits(Vit.pixels(mm, b.pixels(), b.rows(), cfg), ctx);
                    lossSum += b.rows() * Vit.crossEntropy(logits, labels, ctx).getFloat();
                    int[] predicted = Vit.argmax(logits);
                    for (int i = 0; i < predicted.length; i++) {
                        hits += predicted[i] == labels[i] ? 1 : 0;
                    }
                }
            }
        }
        return new VitEvaluation(images == 0 ? Double.NaN : lossSum / images,
                images == 0 ? Double.NaN : (double) hits / images, images);
    }

    /** Parameters of a ViT of shape {@code cfg}. */
    public static long parameterCount(VitConfig cfg) {
        return new Vit(cfg).parameters().stream().mapToLong(p -> p.numel()).sum();
    }
}
