package io.megalith.core.family;

import io.megalith.core.config.FamilyRules;
import java.util.List;

/**
 * The registered families as config validation sees them: the {@link FamilyRules.Catalog} service that trainer-core's
 * {@code META-INF/services} names (public with a no-argument constructor, as {@link java.util.ServiceLoader} needs).
 */
public final class FamilyCatalog implements FamilyRules.Catalog {
    @Override
    public List<ModelFamily> families() {
        return List.copyOf(ModelFamilies.all());
    }
}
