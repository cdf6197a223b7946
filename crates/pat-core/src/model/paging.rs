//! Paged listings: what a caller asks for, and what comes back.

/// Why paging parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// Page 0.
    #[error("page starts at 1, got {0}")]
    Page(u32),
    /// Page size outside 1..=100.
    #[error("page_size must be between 1 and 100, got {0}")]
    Size(u32),
}

/// A validated page request: page ≥ 1, 1 ≤ size ≤ 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    page: u32,
    size: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { page: 1, size: 20 }
    }
}

impl PageRequest {
    /// Largest page size.
    pub const MAX_SIZE: u32 = 100;

    /// Checks the ranges.
    ///
    /// # Errors
    /// [`PageError`] naming the bad value.
    pub fn new(page: u32, size: u32) -> Result<Self, PageError> {
        if page == 0 {
            return Err(PageError::Page(page));
        }
        if !(1..=Self::MAX_SIZE).contains(&size) {
            return Err(PageError::Size(size));
        }
        Ok(Self { page, size })
    }

    /// 1-based page number.
    pub fn page(&self) -> u32 {
        self.page
    }

    /// Items per page.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.size)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// 1-based page number.
    pub page: u32,
    /// Requested page size.
    pub page_size: u32,
    /// Items across all pages.
    pub total_items: u64,
}

impl<T> Page<T> {
    /// Builds a page from its items and the total count.
    pub fn new(items: Vec<T>, request: PageRequest, total_items: u64) -> Self {
        Self {
            items,
            page: request.page(),
            page_size: request.size(),
            total_items,
        }
    }

    /// Number of pages (0 when there are no items).
    pub fn total_pages(&self) -> u64 {
        self.total_items.div_ceil(u64::from(self.page_size.max(1)))
    }

    /// Maps the items, keeping the paging.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            page_size: self.page_size,
            total_items: self.total_items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_requests_are_bounded() {
        assert!(PageRequest::new(1, 1).is_ok());
        assert!(PageRequest::new(1, 100).is_ok());
        assert_eq!(PageRequest::new(0, 20), Err(PageError::Page(0)));
        assert_eq!(PageRequest::new(1, 0), Err(PageError::Size(0)));
        assert_eq!(PageRequest::new(1, 101), Err(PageError::Size(101)));
        assert_eq!(PageRequest::new(3, 20).expect("valid").offset(), 40);
    }

    #[test]
    fn total_pages_rounds_up() {
        let request = PageRequest::new(1, 20).expect("valid");
        assert_eq!(Page::<u8>::new(vec![], request, 0).total_pages(), 0);
        assert_eq!(Page::<u8>::new(vec![], request, 20).total_pages(), 1);
        assert_eq!(Page::<u8>::new(vec![], request, 21).total_pages(), 2);
    }
}
