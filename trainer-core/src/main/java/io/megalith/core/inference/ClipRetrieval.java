package io.megalith.core.inference;

import io.megalith.core.data.captions.CaptionBatch;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.data.captions.Composition;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.family.clip.ClipEvaluation;
import io.megalith.core.model.clip.ClipEmbeddings;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a trained CLIP gets right on held-out data (bench/ClipQuality prints it):
 * <ul>
 *   <li>zero-shot accuracy on held-out single items, each labelled by the nearest prompt "a photo of a {class}", and
 *       by the nearest prompt ensemble of the captions' single-item templates
 *       ({@link ClipEvaluation#TRAINING_TEMPLATES});
 *   <li>retrieval on held-out compositions (pairs of classes never together in training): caption -> image recall@k,
 *       a hit when one of the k nearest canvases has the query's caption (captions repeat: many canvases show the same
 *       pair in the same order), and image -> caption recall@k among the distinct captions of those canvases;
 *   <li>swap accuracy: for each held-out pair canvas, whether its caption outscores the same caption with the two items
 *       exchanged ("a bag to the left of a sneaker" against "a sneaker to the left of a bag"). A model blind to word
 *       order (a bag of words) scores both the same: 50% at best.
 * </ul>
 */
public record ClipRetrieval(double zeroShot, double zeroShotEnsemble, long items, double captionToImageR1, double captionToImageR5,
        double imageToCaptionR1, double imageToCaptionR5, double swapAccuracy, long canvases, long swapPairs) {
    public Map<String, Object> record() {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("zero_shot_accuracy", zeroShot);
        r.put("zero_shot_ensemble_accuracy", zeroShotEnsemble);
        r.put("zero_shot_templates", ClipEvaluation.TRAINING_TEMPLATES);
        r.put("zero_shot_items", items);
        r.put("caption_to_image_recall_at_1", captionToImageR1);
        r.put("caption_to_image_recall_at_5", captionToImageR5);
        r.put("image_to_caption_recall_at_1", imageToCaptionR1);
        r.put("image_to_caption_recall_at_5", imageToCaptionR5);
        r.put("swap_accuracy", swapAccuracy);
        r.put("retrieval_canvases", canvases);
        r.put("swap_pairs", swapPairs);
        return r;
    }

    /** Measures {@code clip} on the first {@code items} held-out items and the first {@code canvases} canvases. */
    public static ClipRetrieval measure(TrainedClip clip, CaptionData data, long items, int canvases) {
        items = Math.min(items, data.heldOutItemsSize());
        float[][] prompts = clip.classEmbeddings(List.of(ClipEvaluation.PROMPT));
        float[][] ensemble = clip.classEmbeddings(ClipEvaluation.TRAINING_TEMPLATES);
        long hits = 0;
        long ensembleHits = 0;
        for (long from = 0; from < items; from += ClipEmbeddings.CHUNK) {
            ImageBatch b = data.heldOutItems(from, (int) Math.min(ClipEmbeddings.CHUNK, items - from));
            float[][] images = clip.embedImages(b.pixels(), b.rows());
            int[] predicted = ClipEmbeddings.nearest(images, prompts);
            int[] byEnsemble = ClipEmbeddings.nearest(images, ensemble);
            for (int i = 0; i < predicted.length; i++) {
                hits += predicted[i] == b.labels()[i] ? 1 : 0;
                ensembleHits += byEnsemble[i] == b.labels()[i] ? 1 : 0;
            }
        }
        CaptionBatch held = data.heldOut(0, (int) Math.min(canvases, data.heldOutSize()));
        float[][] images = clip.embedImages(held.images().pixels(), held.rows());
        List<String> captions = held.captions();
        float[][] texts = clip.embedTexts(captions);
        List<String> distinct = new ArrayList<>(new LinkedHashSet<>(captions));
        float[][] distinctTexts = clip.embedTexts(distinct);
        int[] t2i = new int[2];
        int[] i2t = new int[2];
        for (int q = 0; q < held.rows(); q++) {
            int[] nearImages = ClipEmbeddings.topK(texts[q], images, 5);
            int[] nearCaptions = ClipEmbeddings.topK(images[q], distinctTexts, 5);
            for (int r = 0; r < nearImages.length; r++) {
                if (captions.get(nearImages[r]).equals(captions.get(q))) {
                    t2i[1]++;
                    t2i[0] += r == 0 ? 1 : 0;
                    break;
                }
            }
            for (int r = 0; r < nearCaptions.length; r++) {
                if (distinct.get(nearCaptions[r]).equals(captions.get(q))) {
                    i2t[1]++;
                    i2t[0] += r == 0 ? 1 : 0;
                    break;
                }
            }
        }
        long swaps = 0;
        long wins = 0;
        List<String> swapped = new ArrayList<>();
        List<Integer> rows = new ArrayList<>();
        for (int q = 0; q < held.rows(); q++) {
            Composition c = held.compositions().get(q);
            if (c == null || !c.isPair() || c.first() == c.second()) {
                continue;
            }
            String s = swap(captions.get(q), data.classNames().get(c.first()), data.classNames().get(c.second()));
            if (s != null) {
                swapped.add(s);
                rows.add(q);
            }
        }
        float[][] swappedTexts = clip.embedTexts(swapped);
        for (int k = 0; k < rows.size(); k++) {
            int q = rows.get(k);
            swaps++;
            wins += ClipEmbeddings.similarity(images[q], texts[q]) > ClipEmbeddings.similarity(images[q],
                    swappedTexts[k]) ? 1 : 0;
        }
        double n = Math.max(1, held.rows());
        return new ClipRetrieval(items == 0 ? Double.NaN : (double) hits / items,
                items == 0 ? Double.NaN : (double) ensembleHits / items, items, t2i[0] / n, t2i[1] / n,
                i2t[0] / n, i2t[1] / n, swaps == 0 ? Double.NaN : (double) wins / swaps, held.rows(), swaps);
    }

    /**
     * {@code caption} with the names {@code a} and {@code b} exchanged (each matched as a whole word: "shirt" is not
     * found inside "t-shirt"; an article before either follows its new name: "an ankle boot"), or null unless each
     * occurs exactly once.
     */
    public static String swap(String caption, String a, String b) {
        int[] at = find(caption, a);
        int[] bt = find(caption, b);
        if (at == null || bt == null || (at[0] < bt[1] && bt[0] < at[1])) {
            return null;
        }
        int[] first = at[0] < bt[0] ? at : bt;
        int[] second = at[0] < bt[0] ? bt : at;
        String firstName = first == at ? a : b;
        String secondName = first == at ? b : a;
        return withArticle(caption.substring(0, first[0]), secondName)
                + withArticle(caption.substring(first[1], second[0]), firstName) + caption.substring(second[1]);
    }

    /** {@code before} + {@code name}, a trailing "a " or "an " of {@code before} made the one {@code name} takes. */
    private static String withArticle(String before, String name) {
        Matcher m = Pattern.compile("(?i)(^|\\s)(an?) $").matcher(before);
        if (!m.find()) {
            return before + name;
        }
        boolean vowel = "aeiou".indexOf(Character.toLowerCase(name.charAt(0))) >= 0;
        String article = vowel ? "an" : "a";
        if (Character.isUpperCase(m.group(2).charAt(0))) {
            article = Character.toUpperCase(article.charAt(0)) + article.substring(1);
        }
        return before.substring(0, m.start(2)) + article + " " + name;
    }

    private static int[] find(String text, String name) {
        Matcher m = Pattern.compile("(?<![\\w-])" + Pattern.quote(name) + "(?![\\w-])").matcher(text);
        if (!m.find()) {
            return null;
        }
        int[] span = {m.start(), m.end()};
        return m.find() ? null : span;
    }
}
