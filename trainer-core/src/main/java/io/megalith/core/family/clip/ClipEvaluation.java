package io.megalith.core.family.clip;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.data.captions.CaptionBatch;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.model.clip.CaptionTokens;
import io.megalith.core.model.clip.Clip;
import io.megalith.core.model.clip.ClipConfig;
import io.megalith.core.model.clip.ClipEmbeddings;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A one-rank CLIP's held-out figures: the contrastive loss over the first {@code canvases} held-out canvases (in
 * batches of the training batch size, whose negatives are the batch's), and zero-shot accuracy on the first
 * {@code items} held-out single items, each labelled by the nearest of the prompts "a photo of a {class}".
 */
public record ClipEvaluation(double loss, double zeroShot, long canvases, long items) {
    /** The zero-shot prompt template: {class} is each class's name. */
    public static final String PROMPT = "a photo of a {class}";

    /** The metrics.jsonl fields: val_loss, zero_shot_accuracy, eval_canvases, eval_items. */
    public Map<String, Object> record() {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("val_loss", loss);
        r.put("zero_shot_accuracy", zeroShot);
        r.put("eval_canvases", canvases);
        r.put("eval_items", items);
        return r;
    }

    /**
     * The single-item templates generated captions use ({@code data.captions}), as prompts: CLIP's prompt ensemble
     * (Radford et al., 2021) averages a class's unit embeddings over them.
     */
    public static final List<String> TRAINING_TEMPLATES = List.of(PROMPT, "a {class}", "a picture of a {class}");

    /**
     * The prompts of {@code template} for every class name, the article before it agreeing with the name as in the
     * captions ("a photo of an ankle boot": "an" before a vowel letter).
     */
    public static List<String> prompts(String template, List<String> classNames) {
        List<String> out = new ArrayList<>();
        for (String name : classNames) {
            boolean vowel = !name.isEmpty() && "aeiou".indexOf(Character.toLowerCase(name.charAt(0))) >= 0;
            String withArticle = (template.startsWith("a {class}") ? "an" + template.substring(1) : template)
                    .replace(" a {class}", " an {class}");
            out.add((vowel ? withArticle : template).replace("{class}", name));
        }
        return out;
    }

    /** Evaluates a one-rank copy of {@code full}. */
    public static ClipEvaluation of(ClipConfig cfg, CaptionTokens tokens, CaptionData data, long canvases, long items,
            int batch, Map<String, HostTensor> full, NDManager manager) {
        Clip one = new Clip(cfg);
        try (ParameterStore store = new ParameterStore(one, manager, 0)) {
            store.load(full);
            return of(one, tokens, data, canvases, items, batch, manager);
        }
    }

    /** Evaluates {@code clip} (its parameters bound). */
    public static ClipEvaluation of(Clip clip, CaptionTokens tokens, CaptionData data, long canvases, long items,
            int batch, NDManager manager) {
        JniUtils.setGradMode(false);
        double lossSum = 0;
        long counted = 0;
        for (long from = 0; from + 1 < canvases; from += batch) {
            CaptionBatch b = data.heldOut(from, (int) Math.min(batch, canvases - from));
            try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                ForwardContext ctx = ForwardContext.inference(m);
                float loss = clip.loss(Clip.pixels(m, b.images().pixels(), b.rows(), clip.config()),
                        tokens.encode(b.captions()), ctx).getFloat();
                lossSum += (double) loss * b.rows();
                counted += b.rows();
            }
        }
        float[][] classes = ClipEmbeddings.texts(clip, tokens, prompts(PROMPT, data.classNames()), manager);
        long hits = 0;
        for (long from = 0; from < items; from += ClipEmbeddings.CHUNK) {
            ImageBatch b = data.heldOutItems(from, (int) Math.min(ClipEmbeddings.CHUNK, items - from));
            int[] predicted = ClipEmbeddings.nearest(ClipEmbeddings.images(clip, b.pixels(), b.rows(), manager),
                    classes);
            for (int i = 0; i < predicted.length; i++) {
                hits += predicted[i] == b.labels()[i] ? 1 : 0;
            }
        }
        return new ClipEvaluation(counted == 0 ? Double.NaN : lossSum / counted,
                items == 0 ? Double.NaN : (double) hits / items, counted, items);
    }
}
